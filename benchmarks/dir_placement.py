"""Does the metadata workload's speed depend on where its directory is? Natively, in several parent directories,
as the io suite measures it: a fresh directory per round under each parent, the workload's own unit (create,
fsync the directory, stat and unlink a batch of files), run in paired slices in palindromic order (the first
cycle discarded).

A docker volume's directory lives under /var/lib/docker, native's and a bind mount's under vbench's scratch
directory: if the parent's place on the disk (its ext4 inode group, which a new subdirectory inherits) moves the
figure, a container's metadata row carries that offset for the whole run, and the A/A control, a second native
in native's own parent, cannot see it. Printed per round: each parent's rate (files through the three phases a
second) and its directory's inode number; then each parent's mean and SD over rounds of the log ratio to the
first parent (in %, positive = faster than the first).

    .venv/bin/python benchmarks/dir_placement.py /var/tmp/vbench-pl/a /var/lib/docker/vbench-pl/b \\
        /var/tmp/vbench-pl/c [--rounds 10]

It creates the parents if they are missing and removes only what it created in them. It measures: nothing else
should run meanwhile.
"""
from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workloads.io.metadata import BATCH, BatchUnit  # noqa: E402

SLICE_S = 0.05
CYCLES = 6  # the first is discarded, as a sliced block's


def one_slice(unit: BatchUnit) -> tuple[int, float]:
    """Batches done in about SLICE_S, and the time they took."""
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < SLICE_S:
        unit()
        done += 1
    return done, time.perf_counter() - start


def one_round(parents: list[str]) -> tuple[dict[str, float], dict[str, int]]:
    """Each parent's rate (files a second) in one round of paired slices, and its unit directory's inode."""
    units = {parent: BatchUnit({"file_size": "4k"}, parent) for parent in parents}
    try:
        inodes = {parent: os.stat(unit.directory).st_ino for parent, unit in units.items()}
        work = {parent: [0, 0.0] for parent in parents}
        for cycle in range(CYCLES):
            for parent in parents + parents[::-1]:
                done, seconds = one_slice(units[parent])
                if cycle:
                    work[parent][0] += done
                    work[parent][1] += seconds
        return {parent: BATCH * n / s for parent, (n, s) in work.items()}, inodes
    finally:
        for unit in units.values():
            unit.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("parents", nargs="+", help="parent directories; the first is the reference")
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    if len(args.parents) < 2:
        parser.error("give at least two parent directories")
    parents = [os.path.abspath(p) for p in args.parents]
    for parent in parents:
        os.makedirs(parent, exist_ok=True)
    logs: dict[str, list[float]] = {parent: [] for parent in parents[1:]}
    for index in range(1, args.rounds + 1):
        rates, inodes = one_round(parents)
        print(f"round {index:2d}  " + "  ".join(f"{rates[p]:8.0f}/s (inode {inodes[p]})" for p in parents),
              flush=True)
        for parent in parents[1:]:
            logs[parent].append(math.log(rates[parent] / rates[parents[0]]))
    for parent, values in logs.items():
        mean, sd = statistics.mean(values), statistics.stdev(values) if len(values) > 1 else math.nan
        print(f"{parent} against {parents[0]}: {100 * (math.exp(mean) - 1):+.1f}% (SD {100 * sd:.1f}% over "
              f"{len(values)} rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
