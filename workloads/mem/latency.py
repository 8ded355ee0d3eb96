"""Random memory access over a table larger than the caches: what TLB misses cost under nested paging.

With numpy: a GUPS-like random update, ``table[idx] ^= vals`` over ``size`` bytes of uint64 with ``updates``
seeded random indices per batch, reported as millions of updates per second and its reciprocal in ns per update
(a throughput: numpy issues independent accesses the CPU overlaps, as GUPS intends). Without numpy, flagged
"python-fallback": a pure-Python pointer chase through array('q') whose one entry per 64-byte line links the
lines in a seeded random single cycle, so each load depends on the last and neither caches nor prefetchers help;
the loads are nested eight to an expression to keep interpreter overhead per load small, yet it is still in the
ns per access it reports. The two are different quantities and so carry different metric names; where some
environments lack numpy, ``numpy`` False puts them all on the pointer chase.
"""
from __future__ import annotations

import random
from array import array
from typing import Any

from workloads.mem import import_numpy
from workloads.timing import repeat_for
from workloads.rules import Flag, Number, Size
from workloads.units import parse_size

PARAMS: dict[str, Any] = {"seconds": 2.0, "size": "64M", "updates": 1 << 20, "chase": 1 << 16,
                          "numpy": True}
METRICS = {"mups": ("Mupdates/s", True), "ns_per_update": ("ns", False), "ns_per_access": ("ns", False)}
PRIMARY = "mups"
SEED = 20261129
MIN_SIZE = 64 * 1024
LINE = 8  # int64 entries per 64-byte cache line
RULES = {"seconds": Number(0.001, 3600), "size": Size(MIN_SIZE, 16 << 30),
         "updates": Number(1, 1 << 28, integer=True),  # 2 GiB of indices
         "chase": Number(1, 1 << 28, integer=True), "numpy": Flag()}


def single_cycle(lines: int, seed: int = SEED) -> array:
    """A table whose entry at each line start holds the index of the next line on one random cycle through all."""
    order = list(range(0, lines * LINE, LINE))
    random.Random(seed).shuffle(order)
    table = array("q", [0]) * (lines * LINE)
    for here, there in zip(order, order[1:] + order[:1]):
        table[here] = there
    return table


def chase(table: array, start: int, loads: int) -> int:
    """The index reached after ``loads`` (rounded down to eights) dependent loads from ``start``."""
    i = start
    for _ in range(loads // 8):
        i = table[table[table[table[table[table[table[table[i]]]]]]]]
    return i


def gups(np: Any, size: int, updates: int, seconds: float) -> dict[str, Any]:
    table = np.arange(size // 8, dtype=np.uint64)  # written, so every page is faulted in before timing
    idx = np.random.default_rng(SEED).integers(0, table.size, size=updates)
    vals = idx.astype(np.uint64)

    def update() -> None:
        table[idx] ^= vals
    calls, elapsed = repeat_for(update, seconds)
    rate = calls * updates / elapsed
    return {"metrics": {"mups": rate / 1e6, "ns_per_update": 1e9 / rate},
            "info": {"iterations": calls, "updates": calls * updates, "bytes": table.nbytes,
                     "elapsed_s": elapsed, "numpy": np.__version__}}


def pointer_chase(size: int, loads: int, seconds: float) -> dict[str, Any]:
    table, loads = single_cycle(size // (8 * LINE)), max(loads // 8 * 8, 8)
    position = 0

    def walk() -> None:
        nonlocal position
        position = chase(table, position, loads)
    calls, elapsed = repeat_for(walk, seconds)
    return {"metrics": {"ns_per_access": elapsed * 1e9 / (calls * loads)}, "primary": "ns_per_access",
            "flags": ["python-fallback"],
            "info": {"iterations": calls, "loads": calls * loads, "bytes": len(table) * table.itemsize,
                     "elapsed_s": elapsed}}


def run(params: dict[str, Any], workdir: str) -> dict[str, Any]:
    size, seconds = parse_size(params["size"]), float(params["seconds"])
    np = import_numpy(params["numpy"])
    return gups(np, size, params["updates"], seconds) if np else pointer_chase(size, params["chase"], seconds)
