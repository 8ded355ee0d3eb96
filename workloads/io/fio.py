"""Disk throughput, IOPS and latency: one fio job on one fresh file (pure-Python stand-in when fio is absent).

What is measured: a single fio job (``rw``, ``bs``, ``iodepth``) over a file of ``size`` bytes (or ``nrfiles``
files sharing ``size``, fio taking its I/Os from each in turn), looping over it for ``runtime`` seconds
(time_based), after an optional ``ramp_time`` that is not counted.

Why a fresh file per trial: a file left by an earlier trial carries that trial's page cache, block allocation and
(on copy-on-write layers) history; a new file makes every trial start from the same state. fio lays it out in full
before the clock starts; ``info["layout_bytes"]`` says how much that wrote. The file is removed afterwards.

Why O_DIRECT when it works: the question is what the virtualization layer costs on the way to the device, and
buffered I/O would mostly measure the guest's page cache (RAM). Whether O_DIRECT works is probed, never assumed
(see ``_direct``). Without it the job runs buffered with ``invalidate=1`` (fio drops the file's cached pages before
the job, so reads are not served from the layout just written), ``end_fsync=1`` and ``fsync_on_close=1`` (writes
count only once they reach the device; fio includes the final fsync in its runtime). ``info["io_mode"]`` says which,
and ``info["read_bytes"]``/``["write_bytes"]`` (fio's io_bytes) let the host compare against device counters to
detect reads that were served from a cache anyway.

fio's buffers are in transparent huge pages where the kernel gives them (``fio_env``, ``--iomem_align``): in 4 KiB
pages a large direct I/O is as many segments as its buffer's pages happen to be scattered, luck that moved one
fio's sequential rate against another's by up to 2x (see HUGE_PAGE). ``info["huge_pages"]`` records the kernel's
mode.

Latency is fio's ``lat_ns`` (submission plus completion: what the application waits; percentiles requested with
``--lat_percentiles=1``), else ``clat_ns``; ``info["latency_source"]`` names it. ``ioengine="auto"`` picks libaio
for direct I/O when fio has it and psync otherwise: buffered libaio blocks in io_submit, so its queue depth would
be fiction. A synchronous engine caps the queue depth at 1, recorded as ``info["iodepth_effective"]``.

The Python fallback (``engine="python"``, or ``"auto"`` without fio on PATH) issues os.preadv/os.pwrite from a
page-aligned mmap buffer at queue depth 1, with the same metric names and file handling, flagged
``"python-fallback"``; it uses one file whatever ``nrfiles`` says. Its random offsets are drawn with
replacement (fio's random map touches each block once per pass), so compare it with itself, not with fio.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import itertools
import json
import mmap
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import time

from workloads.io import PIN_IO_WORKERS, latency_us, remove_quietly, scratch_path
from workloads.io._direct import probe_direct
from workloads.rules import Choice, Number, Size
from workloads.units import format_size, parse_size

PARAMS = {"rw": "read", "bs": "4k", "iodepth": 1, "size": "256M", "runtime": 5.0, "rwmixread": 70,
          "direct": "auto", "ioengine": "auto", "ramp_time": 0.0, "engine": "auto", "nrfiles": 1}
METRICS = {
    "read_iops": ("IOPS", True), "write_iops": ("IOPS", True), "iops": ("IOPS", True),
    "read_bw": ("MiB/s", True), "write_bw": ("MiB/s", True),
    "read_lat_mean": ("us", False), "read_lat_p99": ("us", False),
    "write_lat_mean": ("us", False), "write_lat_p99": ("us", False),
}
PRIMARY = "read_bw"
PRIMARY_BY_RW = {"read": "read_bw", "write": "write_bw", "randread": "read_iops", "randwrite": "write_iops",
                 "randrw": "iops"}
DIRECTIONS = {"read": ("read",), "write": ("write",), "randread": ("read",), "randwrite": ("write",),
              "randrw": ("read", "write")}
SYNC_ENGINES = frozenset({"sync", "psync", "vsync", "pvsync", "pvsync2"})
# A fixed list, not any name: fio's "external:/path/lib.so" engine would load whatever library a suite names.
IOENGINES = ("auto", "libaio", "io_uring", "posixaio", "mmap", *sorted(SYNC_ENGINES))
RULES = {"rw": Choice(tuple(DIRECTIONS)), "bs": Size(512, 64 << 20), "iodepth": Number(1, 1024, integer=True),
         "size": Size(512, 64 << 30), "runtime": Number(0.001, 3600), "rwmixread": Number(0, 100, integer=True),
         "direct": Choice(("auto", "on", "off")), "ioengine": Choice(IOENGINES), "ramp_time": Number(0, 600),
         "engine": Choice(("auto", "fio", "python")), "nrfiles": Number(1, 64, integer=True)}
MIB = 1 << 20
LAYOUT_CHUNK = 1 << 20


class FioFailed(RuntimeError):
    """fio exited non-zero or reported a job error."""


@dataclasses.dataclass(frozen=True)
class Job:
    """The validated parameters of one trial, sizes in bytes and times in seconds."""
    rw: str
    bs: int
    size: int
    iodepth: int
    runtime: float
    ramp_time: float
    rwmixread: int
    ioengine: str
    nrfiles: int = 1


def run(params: dict, workdir: str) -> dict:
    job = job_from(params)
    direct_ok, probe_reason = probe_direct(workdir)
    direct = {"on": True, "off": False, "auto": direct_ok}[params["direct"]]
    if choose_engine(params["engine"]) == "fio":
        result = run_fio(job, workdir, direct)
    else:
        result = run_python(job, workdir, direct)
    result["info"].update(io_mode="direct" if direct else "buffered+fsync", o_direct_probe=probe_reason,
                          o_direct_works=direct_ok, layout_bytes=job.size)
    result["primary"] = PRIMARY_BY_RW[job.rw]
    return result


def check_params(params: dict) -> None:
    """What RULES cannot say alone: a block fits in the file."""
    bs, size = parse_size(params["bs"]), parse_size(params["size"])
    if bs > size:
        raise ValueError(f"bs ({format_size(bs)}) must be at most size ({format_size(size)})")
    files = int(params.get("nrfiles", 1))
    if bs * files > size:
        raise ValueError(f"size ({format_size(size)}) must hold a block of {format_size(bs)} in each of nrfiles "
                         f"({files}) files")


def job_from(params: dict) -> Job:
    """Sizes and times of checked parameters (see RULES and check_params) converted; each file a whole number
    of blocks (``size`` is the files' total)."""
    bs, size, files = parse_size(params["bs"]), parse_size(params["size"]), int(params.get("nrfiles", 1))
    return Job(rw=params["rw"], bs=bs, size=size // (bs * files) * bs * files, iodepth=int(params["iodepth"]),
               runtime=float(params["runtime"]), ramp_time=float(params["ramp_time"]),
               rwmixread=int(params["rwmixread"]), ioengine=str(params["ioengine"]), nrfiles=files)


def choose_engine(choice: str) -> str:
    """``"fio"`` or ``"python"``: fio when asked for or found on PATH."""
    if choice == "fio" and shutil.which("fio") is None:
        raise RuntimeError("engine=fio but fio is not on PATH")
    if choice == "auto":
        return "fio" if shutil.which("fio") else "python"
    return choice


# --- fio --------------------------------------------------------------------------------------------------------

def run_fio(job: Job, workdir: str, direct: bool) -> dict:
    """One fio job on a fresh file; an automatically chosen libaio that fails is retried once with psync."""
    ioengine, reason = choose_ioengine(job, direct)
    try:
        argv, result = _fio_trial(job, workdir, direct, ioengine)
    except FioFailed as exc:
        if job.ioengine != "auto" or ioengine != "libaio":
            raise
        ioengine, reason = "psync", f"libaio failed ({exc}), fell back to psync"
        argv, result = _fio_trial(job, workdir, direct, ioengine)
    result["info"].update(ioengine=ioengine, ioengine_reason=reason, fio_argv=argv, huge_pages=huge_pages_mode())
    if ioengine in SYNC_ENGINES and job.iodepth > 1:
        result["info"]["iodepth_effective"] = 1
    return result


def choose_ioengine(job: Job, direct: bool) -> tuple[str, str]:
    """The fio ioengine for this job and why."""
    if job.ioengine != "auto":
        return job.ioengine, "set by parameter"
    if not direct:
        return "psync", "buffered I/O: libaio would block in io_submit, so psync says what happens"
    if "libaio" in fio_engines():
        return "libaio", "direct I/O and fio has libaio"
    return "psync", "fio lacks libaio"


@functools.lru_cache(maxsize=1)
def fio_engines() -> frozenset:
    """The ioengines this fio was built with (``fio --enghelp``)."""
    out = subprocess.run([shutil.which("fio") or "fio", "--enghelp"], capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=30).stdout
    return frozenset(line.strip() for line in out.splitlines()[1:] if line.strip())


def _fio_trial(job: Job, workdir: str, direct: bool, ioengine: str) -> tuple[list[str], dict]:
    paths = [scratch_path(workdir, "fio", ".dat") for _ in range(job.nrfiles)]
    argv = fio_argv(job, paths, direct, ioengine)
    try:
        return argv, run_fio_argv(argv, timeout=job.runtime + job.ramp_time + 600)
    finally:
        for path in paths:
            remove_quietly(path)


def fio_argv(job: Job, paths: list[str], direct: bool, ioengine: str) -> list[str]:
    """The fio command line for ``job`` on ``paths`` (fio splits ``job.size`` between them and takes its I/Os
    from each in turn; run it with :func:`fio_env`)."""
    names = ":".join(_fio_escape(path) for path in paths)
    argv = [shutil.which("fio") or "fio", "--name=vbench", f"--filename={names}", f"--rw={job.rw}",
            f"--bs={job.bs}", f"--size={job.size}", f"--iodepth={job.iodepth}", f"--ioengine={ioengine}",
            f"--runtime={_ms(job.runtime)}", "--time_based", f"--ramp_time={_ms(job.ramp_time)}",
            "--lat_percentiles=1", "--output-format=json", f"--iomem_align={HUGE_PAGE}"]
    if job.rw == "randrw":
        argv.append(f"--rwmixread={job.rwmixread}")
    if direct:
        return argv + ["--direct=1"]
    return argv + ["--direct=0", "--end_fsync=1", "--fsync_on_close=1", "--invalidate=1"]


# fio's I/O buffers in transparent huge pages. With buffers in 4 KiB pages one fio's sequential rate differed from
# another's by up to 2x, steady for the life of the process (benchmarks/paused_fio.py --cross, AMD EPYC, itself a
# VM, stop 45: two paused fios a side, each on both files, rounds alternating the files: the side's part of the
# offset -32%, -66% and +0.8% in three runs; -0.8%, -0.4% and +0.8% with huge buffers). The likely mechanism: a
# direct I/O goes to the device as one segment per run of physically adjacent pages of its buffer, and how
# scattered a process's pages are is the luck of its page faults (512 KiB at QD32 showed it too: -49% and -5.7%).
# glibc >= 2.35 asks for huge pages for what fio mallocs (glibc.malloc.hugetlb=1; older ones ignore the tunable),
# and --iomem_align puts every buffer inside whole ones.
HUGE_PAGE = "2m"
HUGE_TUNABLE = "glibc.malloc.hugetlb=1"
THP_SETTING = "/sys/kernel/mm/transparent_hugepage/enabled"


def fio_env(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment fio runs with: ``environ`` (os.environ) with :data:`HUGE_TUNABLE` added to glibc's
    tunables."""
    env = dict(os.environ if environ is None else environ)
    tunables = [t for t in env.get("GLIBC_TUNABLES", "").split(":") if t and not t.startswith("glibc.malloc.hugetlb=")]
    env["GLIBC_TUNABLES"] = ":".join([*tunables, HUGE_TUNABLE])
    return env


def huge_pages_mode(setting: str = THP_SETTING) -> str:
    """The kernel's transparent huge page mode (always, madvise or never; "absent" without THP): fio's buffers are
    huge under always and madvise."""
    try:
        with open(setting) as thp:
            text = thp.read()
    except OSError:
        return "absent"
    chosen = re.search(r"\[(\w+)\]", text)
    return chosen.group(1) if chosen else "absent"


def huge_kib(pid: int) -> int | None:
    """How much of ``pid``'s anonymous memory is in transparent huge pages (KiB), or None when unknown."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            found = re.search(r"^AnonHugePages:\s+(\d+) kB", rollup.read(), re.M)
    except OSError:
        return None
    return int(found.group(1)) if found else None


def _fio_escape(path: str) -> str:
    return path.replace(":", "\\:")  # fio splits filename lists on ':'


def _ms(seconds: float) -> str:
    return f"{round(seconds * 1000)}ms"


def run_fio_argv(argv: list[str], timeout: float) -> dict:
    """Run fio and parse its JSON; a non-zero exit becomes :class:`FioFailed` with fio's own words."""
    proc = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=timeout,
                          env=fio_env())
    if proc.returncode != 0:
        words = (proc.stderr.strip() or proc.stdout.strip())[-500:]
        raise FioFailed(f"fio exited {proc.returncode}: {words}")
    try:
        result = parse_fio_json(proc.stdout)
    except ValueError as exc:
        raise FioFailed(str(exc)) from exc
    if proc.stderr.strip():
        result["info"]["fio_stderr"] = proc.stderr.strip()[-500:]
    return result


def parse_fio_json(text: str) -> dict:
    """``{"metrics": ..., "info": ...}`` from fio's ``--output-format=json`` text (notes before the JSON allowed)."""
    notes, data = _split_json(text)
    jobs = data.get("jobs") or []
    if len(jobs) != 1:
        raise ValueError(f"expected one fio job, found {len(jobs)}")
    job = jobs[0]
    if job.get("error"):
        raise ValueError(f"fio job {job.get('jobname')!r} failed with error {job['error']}")
    metrics: dict = {}
    sources: set = set()
    directions = _directions(job)
    for direction in directions:
        source = _direction_metrics(job[direction], direction, metrics)
        sources.update([source] if source else [])
    metrics["iops"] = sum(float(job[d]["iops"]) for d in directions)
    info = {"engine": data.get("fio version", "fio"), "read_bytes": int(job["read"]["io_bytes"]),
            "write_bytes": int(job["write"]["io_bytes"]), "latency_source": "+".join(sorted(sources)) or None,
            "fio_runtime_ms": max(int(job[d].get("runtime", 0)) for d in directions)}
    if notes:
        info["fio_notes"] = notes
    return {"metrics": metrics, "info": info}


def _split_json(text: str) -> tuple[list[str], dict]:
    """The lines fio printed before its JSON object, and the object."""
    decoder = json.JSONDecoder()
    for match in re.finditer(r"^\{", text, re.MULTILINE):
        try:
            data, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        return [line.strip() for line in text[:match.start()].splitlines() if line.strip()], data
    raise ValueError("no JSON object in fio output")


def _directions(job: dict) -> tuple[str, ...]:
    """The directions the job did: from its rw option, else those that moved bytes."""
    options = job.get("job options", {})
    rw = options.get("rw", options.get("readwrite", "")).split(":")[0]
    if rw in ("rw", "readwrite"):
        return ("read", "write")
    if rw in DIRECTIONS:
        return DIRECTIONS[rw]
    return tuple(d for d in ("read", "write") if job[d]["io_bytes"] > 0)


def _direction_metrics(section: dict, direction: str, metrics: dict) -> str | None:
    """Add one direction's IOPS, MiB/s and latency to ``metrics``; return the latency source used."""
    bw_bytes = section["bw_bytes"] if "bw_bytes" in section else section["bw"] * 1024
    metrics[f"{direction}_iops"] = float(section["iops"])
    metrics[f"{direction}_bw"] = bw_bytes / MIB
    for source in ("lat_ns", "clat_ns"):
        lat = section.get(source) or {}
        p99 = _p99(lat.get("percentile") or {})
        if lat.get("N") and p99 is not None:
            metrics[f"{direction}_lat_mean"] = lat["mean"] / 1e3
            metrics[f"{direction}_lat_p99"] = p99 / 1e3
            return source
    return None


def _p99(percentiles: dict) -> float | None:
    for key, value in percentiles.items():
        if float(key) == 99.0:
            return float(value)
    return None


# --- sliced: one fio kept paused between slices -----------------------------------------------------------------

SLICES_COUNT_BLOCK_IO = True  # the unit's work is the kernel's block-layer count: storage must be block storage
PIN_WORKERS = PIN_IO_WORKERS  # a block's workers are left unpinned (workloads/io/__init__.py says why)
SLICE_ESTIMATOR = "pair-median"  # a stalled slice moves one pair, not the figure (vbench.slices)
# Every side of a block lays out its file at the same time (vbench.slices.run_block), so that none is laid out
# seconds after another: one after the other, the file laid out last ran sequential I/O 10-20% faster for the
# whole block (benchmarks/io_noise.py, 4 KiB buffers). From stop 42 to stop 45 the sequential jobs also waited 6 s
# after the layouts before their first slice, against a container offset that turned out to be fio's buffers
# (HUGE_PAGE); with huge buffers the wait did not matter (benchmarks/seq-layout.toml, 10 rounds: containers -0.5%
# to +0.1% with it, -2.0% to +2.2% and -0.6% to +0.2% in two runs without it, every interval across zero) and
# it cost 12 s a round, so it is gone.
PREPARE_TOGETHER = True
SLICE_S = 0.05  # one call of the unit: fio runs this long between a SIGCONT and a SIGSTOP
HUGE_CHECKS = 8  # the first calls read how much of fio's memory is in huge pages (after the slice's clock)
STOP_WAIT_S = 5.0  # how long a SIGSTOP may take to reach every thread of fio
START_TIMEOUT_S = 30.0  # how long fio may take from its start to its first I/O


def unit(params: dict):
    """A paused fio for sliced trials: each call resumes it for SLICE_S and stops it again, returning the work
    it did meanwhile in the primary metric's unit (MiB for bandwidth, operations for IOPS) times seconds.

    The work is the kernel's accounting of the fio process (``/proc/<pid>/io`` read_bytes and write_bytes, bytes
    submitted to the block layer, every thread included) read once every thread has stopped; an I/O in flight at
    a stop is counted in the slice that submitted it, so the total over slices is exact and only the boundaries
    blur. The file is laid out before fio starts (fio then reuses it), fio runs time-based for a day with
    ``--thread``, and it dies with the worker (PR_SET_PDEATHSIG); ``work.close()`` kills it and removes the file.
    Only the direct-I/O fio job is sliced: buffered writes are accounted when they dirty the page cache, not when
    they reach the device."""
    job = job_from(params)
    reason = sliced_unavailable(params, job)
    if reason:
        raise RuntimeError(f"unavailable: {reason}")
    workdir = os.getcwd()
    fio = PausedFio(job, workdir, choose_ioengine(job, True)[0])
    amount = None  # measured: every call returns its own work
    info = {"primary": PRIMARY_BY_RW[job.rw], "io_mode": "direct", "ioengine": fio.ioengine,
            "layout_bytes": job.size, "fio_argv": fio.argv,
            "work_source": "/proc/<pid>/io read_bytes+write_bytes of the paused fio", "slice_engine": "paused fio",
            "stale_files_removed": fio.stale_removed, "other_fio_files": fio.others, "layout": fio.layout,
            "huge_pages": huge_pages_mode(), "buffers_huge_kib": None}
    fio.info = info  # its first calls (the worker's calibration) update buffers_huge_kib as fio touches them
    if fio.ioengine in SYNC_ENGINES and job.iodepth > 1:
        info["iodepth_effective"] = 1
    return fio, amount, info


# Until stop 45 the sequential jobs ran as whole trials: paused and resumed, a container's fio mostly ran faster
# than a native one (1 MiB at QD16: by up to 22% in stop 44; -71% to +11% between invocations in stop 45) while
# whole runs agreed. The cause was the process, not the container: with two paused fios a side, each side on both
# files and rounds alternating the files (benchmarks/paused_fio.py --cross, 200 ms slices, AMD EPYC, itself a
# VM), the side's part was -32%, -66% and +0.8% in three runs, and -0.8%, -0.4%, +0.8% (writes) and -0.2%, -1.3%
# (reads) once fio's buffers were huge pages (HUGE_PAGE says why that matters). Sliced in vbench with huge
# buffers (benchmarks/seq-layout.toml, 10 rounds, 50 ms slices), the containers read -0.0% to -0.5% and wrote
# -0.7% to +0.1% against native, no interval clear of zero; the same suite before had them 7.8-13.1% faster.
# Without transparent huge pages a job whose blocks span pages runs whole (SCATTERED_BUFFERS).
SCATTERED_BUFFERS = ("transparent huge pages are {mode} on this host: fio's buffers of {bs} would lie in 4 KiB pages "
                     "as scattered as its process happens to get them, which moved a paused fio's rate by up to 2x "
                     "for the process's life (benchmarks/paused_fio.py --cross)")


def cannot_slice(params: dict, mode: str | None = None) -> str | None:
    """Why a job with these parameters does not run as paired slices (the host asks before a run): what its
    unit cannot count, or blocks larger than a page without huge pages for fio's buffers (``mode``: the host's
    transparent huge page mode, read when None)."""
    reason = cannot_count(params)
    if reason:
        return reason
    mode = huge_pages_mode() if mode is None else mode
    if parse_size(str(params.get("bs", PARAMS["bs"]))) > mmap.PAGESIZE and mode not in ("always", "madvise"):
        return SCATTERED_BUFFERS.format(mode=mode, bs=params.get("bs"))
    return None


def cannot_count(params: dict) -> str | None:
    """Why the unit cannot count a job with these parameters slice by slice, anywhere."""
    if params.get("engine") == "python":
        return "engine=python: the Python fallback is not sliced"
    if params.get("direct") == "off":
        return "direct=off: buffered writes are counted when they dirty the page cache, not when they reach the device"
    if float(params.get("ramp_time") or 0):
        return "ramp_time: slices discard their first cycle instead"
    return None


def sliced_unavailable(params: dict, job: Job) -> str | None:
    """Why this job cannot be sliced here, or None."""
    if cannot_count(params):
        return cannot_count(params)
    if shutil.which("fio") is None:
        return "sliced I/O needs fio (the Python fallback is not sliced)"
    if not os.path.exists(f"/proc/{os.getpid()}/io"):
        return "the kernel has no per-process I/O accounting (/proc/<pid>/io)"
    fstype = filesystem_type(os.getcwd())
    if fstype not in BLOCK_FILESYSTEMS:
        return (f"the kernel counts a process's I/O at the block layer, and {fstype or 'this file system'} is not "
                "block storage")
    if not probe_direct(os.getcwd())[0]:
        return "O_DIRECT does not work here, and buffered I/O cannot be counted per slice"
    return None


# File systems whose I/O the kernel counts per process (/proc/<pid>/io read_bytes, write_bytes: block-layer
# submissions); overlay counts through the block file system below it. tmpfs, 9p, virtiofs (fuse), NFS do not.
BLOCK_FILESYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "jfs", "overlay", "reiserfs"})


def filesystem_type(path: str, mountinfo: str = "/proc/self/mountinfo") -> str | None:
    """The type of the file system that holds ``path`` (the longest mount point above it), or None."""
    target = os.path.realpath(path)
    best, fstype = -1, None
    with open(mountinfo) as mounts:
        for line in mounts:
            left, _, right = line.partition(" - ")
            point = left.split()[4].replace("\\040", " ")
            inside = target == point or target.startswith(point.rstrip("/") + "/")
            if inside and len(point) > best:
                best, fstype = len(point), right.split()[0]
    return fstype


class PausedFio:
    """fio on a laid-out file, stopped between calls; each call resumes it for SLICE_S (see :func:`unit`)."""

    def __init__(self, job: Job, workdir: str, ioengine: str):
        self.job, self.ioengine = job, ioengine
        self.scale = MIB if PRIMARY_BY_RW[job.rw].endswith("_bw") else job.bs
        self.paths = [scratch_path(workdir, "fio", ".dat") for _ in range(job.nrfiles)]
        self.proc: subprocess.Popen[bytes] | None = None
        self.counted = 0
        self.info: dict = {}  # the unit's info: its first calls put how much of fio's memory is huge there
        self.calls = 0
        self.layout: dict = {}
        self.stale_removed, self.others = remove_stale(workdir)
        day = Job(**{**dataclasses.asdict(job), "runtime": 86400.0})
        self.argv = [*fio_argv(day, self.paths, True, ioengine), "--thread"]
        try:
            layouts = []
            for path in self.paths:
                fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_DIRECT, 0o600)
                try:
                    layouts.append(lay_out(fd, job.size // job.nrfiles, True))
                finally:
                    os.close(fd)
            self.layout = layouts_together(layouts)
            self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, preexec_fn=_die_with_parent, env=fio_env())
            self._started()
        except BaseException:
            self.close()
            raise

    @property
    def _fio(self) -> subprocess.Popen[bytes]:
        assert self.proc is not None, "fio is started in __init__"
        return self.proc

    def _words(self) -> str:
        """The end of what fio wrote to stderr (once it has exited)."""
        err = self._fio.stderr
        return err.read().decode(errors="replace").strip()[-300:] if err else ""

    def _started(self) -> None:
        """Wait until fio has the file open and moves bytes, then stop it: the first slice begins from a stopped
        fio doing I/O. (Bytes alone would not do: loading fio's binary and libraries counts as reads too.)"""
        deadline = time.monotonic() + START_TIMEOUT_S
        opened = None
        while opened is None or self._bytes() <= opened:
            if opened is None and self._has_file_open():
                opened = self._bytes()
            if self._fio.poll() is not None:
                raise RuntimeError(f"fio exited {self._fio.returncode} before its first I/O: {self._words()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"fio did no I/O within {START_TIMEOUT_S:g} s of starting")
            time.sleep(0.005)
        self._stop()
        self.counted = self._bytes()

    def __call__(self) -> tuple[float, float]:
        """The work of one slice, and how long fio ran for it: from its SIGCONT to its SIGSTOP. The wait for
        every thread to stop and the reading of the count come after, and fio submits nothing meanwhile: timed
        over the whole call, every fio job of the io suite read 0.5-0.7% slower here
        (benchmarks/io_slice_fidelity.py prints both)."""
        active = 0.0
        if self._fio.poll() is None:
            start = time.perf_counter()
            os.kill(self._fio.pid, signal.SIGCONT)
            time.sleep(SLICE_S)
            active = self._stop() - start
        now = self._bytes()
        if self._fio.poll() is not None:
            raise RuntimeError(f"fio exited {self._fio.returncode} during a slice: {self._words() or 'no message'}")
        done, self.counted = now - self.counted, now
        if self.calls < HUGE_CHECKS:  # a buffer is faulted in when fio first uses it
            self.calls += 1
            self.info["buffers_huge_kib"] = huge_kib(self._fio.pid)
        return done / self.scale, active

    def _stop(self) -> float:
        """Stop fio, waiting until every thread has stopped: when the signal was sent (perf_counter)."""
        with contextlib.suppress(ProcessLookupError):  # fio died meanwhile: the caller says why
            os.kill(self._fio.pid, signal.SIGSTOP)
        sent = time.perf_counter()
        deadline = time.monotonic() + STOP_WAIT_S
        while not self._all_stopped():
            if time.monotonic() > deadline:
                raise RuntimeError(f"fio did not stop within {STOP_WAIT_S:g} s of SIGSTOP")
            time.sleep(0.0001)
        return sent

    def _has_file_open(self) -> bool:
        try:
            return any(os.readlink(f"/proc/{self._fio.pid}/fd/{fd}") in self.paths
                       for fd in os.listdir(f"/proc/{self._fio.pid}/fd"))
        except OSError:  # an fd closed between the listing and its link, or fio gone: look again
            return False

    def _all_stopped(self) -> bool:
        return self._fio.poll() is not None or threads_stopped(self._fio.pid)  # an ended fio has nothing to stop

    def _bytes(self) -> int:
        if self._fio.poll() is not None:
            return 0  # fio is gone (its /proc entry with it): the caller says why
        try:
            return io_bytes(self._fio.pid)
        except (FileNotFoundError, ProcessLookupError):
            return self.counted  # it died since the poll above: the next poll says so

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()  # a stopped process dies of SIGKILL too
            self.proc.wait(timeout=30)
        if self.proc is not None and self.proc.stderr:
            self.proc.stderr.close()
        for path in self.paths:
            remove_quietly(path)


def threads_stopped(pid: int) -> bool:
    """Whether every thread of ``pid`` is stopped (or gone): a SIGSTOP reaches each thread in its own time."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:
        return True
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/stat") as stat:
                state = stat.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            continue
        if state not in ("T", "t", "Z", "X"):
            return False
    return True


def io_bytes(pid: int) -> int:
    """The bytes ``pid`` has submitted to the block layer, every thread's (/proc/<pid>/io read_bytes and
    write_bytes); FileNotFoundError once it is gone."""
    with open(f"/proc/{pid}/io") as io:
        fields = dict(line.split(": ") for line in io.read().splitlines())
    return int(fields["read_bytes"]) + int(fields["write_bytes"])


def remove_stale(workdir: str) -> tuple[int, int]:
    """Remove the fio files in ``workdir`` whose process is gone without removing them (a worker killed before
    it could close its unit): their names hold that process's pid (``scratch_path``). How many were removed,
    and how many other fio files were there (a living process's)."""
    removed = kept = 0
    for name in os.listdir(workdir):
        match = re.fullmatch(r"vbench-fio-(\d+)-[0-9a-f]+\.dat", name)
        if match and not alive(int(match.group(1))):
            remove_quietly(os.path.join(workdir, name))
            removed += 1
        elif match:
            kept += 1
    return removed, kept


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def _die_with_parent() -> None:
    """In fio's child before exec: SIGKILL when the worker goes, so no paused fio outlives it."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


# --- pure-Python fallback -----------------------------------------------------------------------------------------

def run_python(job: Job, workdir: str, direct: bool) -> dict:
    """The same job with os.preadv/os.pwrite at queue depth 1 on a fresh file."""
    path = scratch_path(workdir, "fio", ".dat")
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | (os.O_DIRECT if direct else 0)
    try:
        fd = os.open(path, flags, 0o600)
        try:
            lay_out(fd, job.size, direct)
            samples, elapsed_ns = python_loop(fd, job, direct)
        finally:
            os.close(fd)
    finally:
        remove_quietly(path)
    return python_result(job, samples, elapsed_ns)


def lay_out(fd: int, size: int, direct: bool) -> dict:
    """Reserve the file's blocks in one piece, write the whole file with random bytes and make it durable;
    buffered, drop its pages (fio's invalidate). How long it took, when it started and ended (by the wall clock,
    which a container shares with the host: which side's file is newest matters, PREPARE_TOGETHER), and where
    on its device it lies (``physical_gib``, the first extent's offset, and ``extents``, where the file system
    says: a side's file does not land in the same place every round, see physical_extents).

    The reservation first: written a chunk at a time beside other writers, a 256 MiB file came out in 35 pieces
    interleaved with theirs (filefrag, four files laid out at once on ext4); reserved, 3 pieces. Where the file
    system cannot reserve, the C library writes the blocks instead, and the layout overwrites them."""
    start, started_unix = time.monotonic(), time.time()
    with contextlib.suppress(OSError):  # no room to reserve: the writes below say so
        os.posix_fallocate(fd, 0, size)
    with mmap.mmap(-1, LAYOUT_CHUNK) as buf:
        buf.write(os.urandom(LAYOUT_CHUNK))
        for offset in range(0, size, LAYOUT_CHUNK):
            with memoryview(buf)[:min(LAYOUT_CHUNK, size - offset)] as chunk:
                os.pwrite(fd, chunk, offset)
    os.fsync(fd)
    ended = time.time()
    if not direct:
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    extents = physical_extents(fd)
    where = {} if not extents else {"physical_gib": round(extents[0][0] / 2**30, 4), "extents": len(extents)}
    return {"s": round(time.monotonic() - start, 4), "started_unix": round(started_unix, 4),
            "ended_unix": round(ended, 4), **where}


def layouts_together(layouts: list[dict]) -> dict:
    """One unit's layouts (one per file, laid out one after the other) as one: their total time, the first's
    start, the last's end and where each file's first extent lies (``physical_gib``: the first file's)."""
    if len(layouts) == 1:
        return layouts[0]
    where = [layout["physical_gib"] for layout in layouts if "physical_gib" in layout]
    together = {"s": round(sum(layout["s"] for layout in layouts), 4), "started_unix": layouts[0]["started_unix"],
                "ended_unix": layouts[-1]["ended_unix"], "files": len(layouts)}
    return together | ({"physical_gib": where[0], "physical_gib_each": where} if where else {})


FS_IOC_FIEMAP = 0xC020660B
_FIEMAP_HEAD = struct.Struct("=QQLLLL")  # struct fiemap: start, length, flags, mapped, count, reserved
_FIEMAP_EXTENT = struct.Struct("=QQQQQLLLL")  # struct fiemap_extent: logical, physical, length, ...


def physical_extents(fd: int, count: int = 32) -> list[tuple[int, int]] | None:
    """Where the file's first ``count`` extents lie on its device, (byte offset, length) each, from the FIEMAP
    ioctl; None where the file system cannot say (tmpfs, 9p). Two files in different places on
    one disk can differ in speed for a whole block: a side whose file landed in one place every round would carry
    that as an overhead (benchmarks/seq_offsets.py reads a run's placements against its speeds)."""
    buf = bytearray(_FIEMAP_HEAD.pack(0, 2**64 - 1, 0, 0, count, 0) + bytes(_FIEMAP_EXTENT.size * count))
    try:
        fcntl.ioctl(fd, FS_IOC_FIEMAP, buf)
    except OSError:
        return None
    mapped = _FIEMAP_HEAD.unpack_from(buf)[3]
    return [_FIEMAP_EXTENT.unpack_from(buf, _FIEMAP_HEAD.size + i * _FIEMAP_EXTENT.size)[1:3]
            for i in range(min(mapped, count))]


def python_loop(fd: int, job: Job, direct: bool) -> tuple[dict[str, list[int]], int]:
    """Per-op times (ns) by direction after the ramp, and the measured span including the final fsync."""
    samples: dict[str, list[int]] = {"read": [], "write": []}
    rng = random.Random(0x5EED)  # the same offsets every trial, as fio's randrepeat=1
    next_op, next_offset = _op_picker(job, rng), _offset_picker(job, rng)
    clock = time.perf_counter_ns
    with mmap.mmap(-1, _page_round(job.bs)) as buf:
        buf.write(os.urandom(len(buf)))
        with memoryview(buf)[:job.bs] as block:
            measure_from = clock() + int(job.ramp_time * 1e9)
            stop, now = measure_from + int(job.runtime * 1e9), 0
            while now < stop:
                op, offset = next_op(), next_offset()
                start = clock()
                done = os.preadv(fd, [block], offset) if op == "read" else os.pwrite(fd, block, offset)
                now = clock()
                if done != job.bs:
                    raise OSError(f"short {op} at offset {offset}: {done} of {job.bs} bytes")
                if start >= measure_from:
                    samples[op].append(now - start)
    if not direct:
        os.fsync(fd)  # end_fsync: buffered writes count once they reach the device
    return samples, clock() - measure_from


def _page_round(n: int) -> int:
    return -(-n // mmap.PAGESIZE) * mmap.PAGESIZE


def _op_picker(job: Job, rng: random.Random):
    directions = DIRECTIONS[job.rw]
    if len(directions) == 1:
        return lambda: directions[0]
    return lambda: "read" if rng.random() * 100 < job.rwmixread else "write"


def _offset_picker(job: Job, rng: random.Random):
    blocks = job.size // job.bs
    if job.rw.startswith("rand"):
        return lambda: rng.randrange(blocks) * job.bs
    position = itertools.count()
    return lambda: next(position) % blocks * job.bs


def python_result(job: Job, samples: dict[str, list[int]], elapsed_ns: int) -> dict:
    """Metrics with fio's names from per-op timings."""
    seconds = elapsed_ns / 1e9
    directions = DIRECTIONS[job.rw]
    metrics: dict[str, float] = {}
    for d in directions:
        metrics[f"{d}_iops"] = len(samples[d]) / seconds
        metrics[f"{d}_bw"] = len(samples[d]) * job.bs / seconds / MIB
        if samples[d]:
            lat = latency_us(samples[d])
            metrics[f"{d}_lat_mean"], metrics[f"{d}_lat_p99"] = lat["mean"], lat["p99"]
    metrics["iops"] = sum(len(samples[d]) for d in directions) / seconds
    info = {"engine": "python", "ioengine": "python-psync", "read_bytes": len(samples["read"]) * job.bs,
            "write_bytes": len(samples["write"]) * job.bs, "latency_source": "wall time of each preadv/pwrite call"}
    if job.iodepth > 1:
        info["iodepth_effective"] = 1
    return {"metrics": metrics, "info": info, "flags": ["python-fallback"]}
