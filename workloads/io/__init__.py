"""Disk I/O workloads: fio jobs, fsync latency, file-system metadata and SQLite commits.

Every workload here works on a fresh scratch file (or directory) in the workdir and removes it afterwards, so
no trial inherits another's page cache, block layout or leftovers, and the storage under test is left as found.
The helpers below are shared by the family: unique scratch names and latency summaries from per-op timings.
"""
from __future__ import annotations

import math
import os
import secrets


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
