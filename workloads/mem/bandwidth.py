"""STREAM-like memory bandwidth in MiB/s: what nested paging and a VM's memory placement cost streaming code.

``memmove`` copies one bytearray into another through memoryview slice assignment, i.e. the C library's memmove:
stdlib only, so every guest runs it, and it is PRIMARY. With numpy (unless ``numpy`` is False) the four STREAM
kernels also run, on float64 views of the same buffers: copy c=a, scale b=s*c, add c=a+b, triad a=b+s*c (in
cache-sized blocks, so the s*c temporary stays in cache and triad moves three arrays, not five). Bytes are counted
as STREAM counts them, each array read or written once per element: 2 arrays for memmove, copy and scale, 3 for
add and triad. The kernels run round-robin, each timed on its own, so drift during the trial hits them all alike.
``size`` is per array and must be well above the last-level cache for the figures to be memory's rather than
cache's; the buffers are written before timing, so no page is faulted in, or read from the shared zero page,
while measured.
"""
from __future__ import annotations

import time
from typing import Any, Callable

from workloads.mem import import_numpy
from workloads.rules import Flag, Number, Size
from workloads.units import parse_size

PARAMS: dict[str, Any] = {"seconds": 2.0, "size": "64M", "numpy": True}
METRICS = {name: ("MiB/s", True) for name in ("memmove", "copy", "scale", "add", "triad")}
PRIMARY = "memmove"
MIN_ROUNDS = 3
SCALE = 2**0.5 - 1  # s(2+s) = 1: one round maps a to itself, so values stay bounded however long it runs
MIN_SIZE = 64 * 1024
# size is per array, and there are three: 16G is 48 GiB of RAM
RULES = {"seconds": Number(0.001, 3600), "size": Size(MIN_SIZE, 16 << 30), "numpy": Flag()}
BLOCK = 64 * 1024  # float64 elements per triad block: 512 KiB, inside any L2

Kernels = dict[str, tuple[Callable[[], object], int]]


def stdlib_kernels(bufs: list[bytearray]) -> Kernels:
    src, dst = memoryview(bufs[0]), memoryview(bufs[1])

    def memmove() -> None:
        dst[:] = src
    return {"memmove": (memmove, 2 * len(src))}


def numpy_kernels(np: Any, bufs: list[bytearray]) -> Kernels:
    a, b, c = (np.frombuffer(buf, dtype=np.float64) for buf in bufs)
    for array, value in ((a, 1.0), (b, 2.0), (c, 0.0)):
        array.fill(value)
    tmp = np.empty(min(BLOCK, a.size))
    blocks = [(a[i:i + BLOCK], b[i:i + BLOCK], c[i:i + BLOCK], tmp[:min(BLOCK, a.size - i)])
              for i in range(0, a.size, BLOCK)]

    def triad() -> None:
        for a_, b_, c_, t_ in blocks:
            np.add(b_, np.multiply(c_, SCALE, out=t_), out=a_)
    return {"copy": (lambda: np.copyto(c, a), 2 * a.nbytes),
            "scale": (lambda: np.multiply(c, SCALE, out=b), 2 * a.nbytes),
            "add": (lambda: np.add(a, b, out=c), 3 * a.nbytes),
            "triad": (triad, 3 * a.nbytes)}


def run_round_robin(kernels: Kernels, seconds: float) -> tuple[int, dict[str, float]]:
    """(rounds, seconds spent in each kernel) of running every kernel in turn until ``seconds`` passed."""
    for work, _ in kernels.values():
        work()  # warmup
    spent = dict.fromkeys(kernels, 0.0)
    rounds, start = 0, time.monotonic()
    while rounds < MIN_ROUNDS or time.monotonic() - start < seconds:
        for name, (work, _) in kernels.items():
            t0 = time.monotonic()
            work()
            spent[name] += time.monotonic() - t0
        rounds += 1
    return rounds, spent


def run(params: dict[str, Any], workdir: str) -> dict[str, Any]:
    np = import_numpy(params["numpy"])
    size = parse_size(params["size"]) // 8 * 8
    bufs = [bytearray(b"\x5a") * size for _ in range(3 if np else 2)]
    kernels = stdlib_kernels(bufs) | (numpy_kernels(np, bufs) if np else {})
    rounds, spent = run_round_robin(kernels, float(params["seconds"]))
    moved = {name: rounds * per_round for name, (_, per_round) in kernels.items()}
    return {"metrics": {name: moved[name] / spent[name] / 2**20 for name in kernels},
            "flags": [] if np else ["no-numpy"],
            "info": {"iterations": rounds, "size": size, "bytes": moved, "elapsed_s": spent,
                     "numpy": np.__version__ if np else None}}
