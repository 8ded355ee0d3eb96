"""File-system metadata rate: create, stat and unlink a batch of small files (``files`` of them) in a fresh directory.

Metadata operations are system calls that touch no bulk data, so their cost is the kernel path: the guest's VFS,
plus a container's overlay lookups and copy-up bookkeeping, plus a VM's journal writes reaching its virtual disk.
Phases, each timed on its own:

- create: open(O_CREAT|O_EXCL), write ``file_size`` bytes, close, for every file; then ONE os.fsync on the
  directory, inside the create time, so the new entries are durable (otherwise the phase would only measure the
  page cache and the journal would be committed at some arbitrary later moment);
- stat: os.stat of every file (warm dentry and inode caches: this is the lookup path, not the disk);
- unlink: os.unlink of every file (no fsync: the entries' removal is left to the journal's own schedule).

``ops`` is all three phases' operations over their total time. The directory is new for every trial, so no trial
inherits a large or fragmented directory from another, and it is removed afterwards.

Sliced (``unit``), one call is the same three phases on a batch of BATCH files in the unit's own directory: create
them and fsync the directory, stat them, unlink them; so a slice's directory fsync makes a batch durable where a
whole trial's makes all ``files`` durable at once (a shorter journal commit, more of them): sliced and whole
figures of this workload are not the same operation, and ``io_mode`` says which.
"""
from __future__ import annotations

import os
import time

from workloads.io import PIN_IO_WORKERS, scratch_path
from workloads.rules import Number, Size
from workloads.units import parse_size

PARAMS = {"files": 2000, "file_size": "4k"}
RULES = {"files": Number(1, 1_000_000, integer=True), "file_size": Size(0, 1 << 20)}  # empty files are allowed
METRICS = {"create": ("files/s", True), "stat": ("files/s", True), "unlink": ("files/s", True),
           "ops": ("ops/s", True)}
PRIMARY = "ops"
PIN_WORKERS = PIN_IO_WORKERS  # a block's workers are left unpinned (workloads/io/__init__.py says why)
SLICE_ESTIMATOR = "pair-median"  # a slice stalled by the journal moves one pair, not the figure (vbench.slices)
BATCH = 100  # files per call of the unit: about 5 ms natively here, so a 50 ms slice is several batches


def run(params: dict, workdir: str) -> dict:
    count, size = int(params["files"]), parse_size(params["file_size"])
    directory = scratch_path(workdir, "metadata")
    os.mkdir(directory, 0o700)
    names = [os.path.join(directory, f"f{i:07d}") for i in range(count)]
    try:
        seconds = {"create": timed(create, names, directory, os.urandom(size)),
                   "stat": timed(stat, names), "unlink": timed(unlink, names)}
    finally:
        remove_tree(directory)
    return result(seconds, count, size)


class BatchUnit:
    """Create, fsync the directory, stat and unlink BATCH files per call, in one directory for the unit's life;
    ``close()`` removes the directory (and any file a failed call left)."""

    def __init__(self, params: dict, workdir: str):
        self.data = os.urandom(parse_size(params["file_size"]))
        self.directory = scratch_path(workdir, "metadata")
        os.mkdir(self.directory, 0o700)
        self.names = [os.path.join(self.directory, f"f{i:07d}") for i in range(BATCH)]

    def __call__(self) -> None:
        create(self.names, self.directory, self.data)
        stat(self.names)
        unlink(self.names)

    def close(self) -> None:
        if os.path.isdir(self.directory):
            remove_tree(self.directory)


def unit(params: dict):
    """One batch (BATCH files through the three phases), its amount in the primary metric's unit (operations)
    and what a trial's info says."""
    return (BatchUnit(params, os.getcwd()), 3.0 * BATCH,
            {"io_mode": "buffered+dir-fsync", "files_per_call": BATCH, "file_bytes": parse_size(params["file_size"]),
             "dir_fsync": f"one per {BATCH} files"})


def timed(phase, *args) -> float:
    """Wall seconds that ``phase(*args)`` takes."""
    start = time.perf_counter()
    phase(*args)
    return time.perf_counter() - start


def create(names: list[str], directory: str, data: bytes) -> None:
    for name in names:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            if data:
                os.write(fd, data)
        finally:
            os.close(fd)
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def stat(names: list[str]) -> None:
    for name in names:
        os.stat(name)


def unlink(names: list[str]) -> None:
    for name in names:
        os.unlink(name)


def remove_tree(directory: str) -> None:
    """Remove what a failed trial left in the scratch directory, and the directory."""
    for entry in os.scandir(directory):
        os.unlink(entry.path)
    os.rmdir(directory)


def result(seconds: dict[str, float], count: int, size: int) -> dict:
    metrics = {phase: count / spent for phase, spent in seconds.items()}
    metrics["ops"] = 3 * count / sum(seconds.values())
    info = {"io_mode": "buffered+dir-fsync", "files": count, "file_bytes": size,
            "phase_seconds": {k: round(v, 6) for k, v in seconds.items()}}
    return {"metrics": metrics, "info": info}
