"""Disk I/O workloads: fio jobs, fsync latency, file-system metadata and SQLite commits.

Every workload here works on a fresh scratch file (or directory) in the workdir and removes it afterwards, so
no trial inherits another's page cache, block layout or leftovers, and the storage under test is left as found.
The helpers below are shared by the family: unique scratch names and latency summaries from per-op timings.
"""
from __future__ import annotations

import math
import os
import secrets

# An I/O workload's paired slices run with their workers unpinned (each module's PIN_WORKERS; vbench.run.sliced
# pins a cpu block's workers to one CPU, rotated by round, and vbench to the others). Pinned, an I/O block's sides
# were steady and within 1-3% of each other in the rounds on the CPU that took the disk's interrupts, and slower
# and up to 40-90% apart in the rounds on the other one (AMD EPYC, 2 vCPU, itself a VM, stop 46: per-round SD of
# the containers' and the A/A control's ratio to native 13-23% for 4k random reads at QD32 and 12-14% for 4k
# writes at QD1, one file a side, over 10 rounds, benchmarks/placement.toml). Unpinned, the same jobs had 0.5-1.9%
# (benchmarks/io-pinning.toml, 10 rounds), and the quick io suite's A/A floor was 3.7% and 5.6% in two runs
# (median over 11 cases) where it had been 17.7% pinned.
PIN_IO_WORKERS = False


def scratch_path(workdir: str, stem: str, suffix: str = "") -> str:
    """A path in ``workdir`` that no other trial (or concurrent process) uses."""
    return os.path.join(workdir, f"vbench-{stem}-{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def remove_quietly(path: str) -> None:
    """Remove a file if it is there; a scratch file that is already gone is not an error."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def percentile(sorted_values: list, q: float) -> float:
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of an ascending, non-empty list."""
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return float(sorted_values[rank - 1])


def latency_us(samples_ns: list[int]) -> dict[str, float]:
    """Mean, median and 99th percentile in microseconds of per-operation times in nanoseconds."""
    if not samples_ns:
        raise ValueError("no operations completed: nothing to summarise")
    ordered = sorted(samples_ns)
    return {"mean": sum(ordered) / len(ordered) / 1e3,
            "p50": percentile(ordered, 50) / 1e3,
            "p99": percentile(ordered, 99) / 1e3}
