"""Dense float64 matrix multiply through numpy's BLAS, in GFLOP/s: vector units and caches at full tilt.

Two seeded ``n`` x ``n`` matrices are multiplied into a preallocated output, 2 n^3 flops a call. Only where numpy
is installed (the minimal guest has none): ``available()`` looks for numpy without importing it, so that
``run`` can pin the BLAS thread pool to ``threads`` through the environment before the library loads (the pools
read it once, at load); ``threads`` 0 leaves the library's default, which follows the CPUs it sees. numpy's
version, its BLAS and the thread variables as seen go into info, since they decide the result as much as the CPU.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any, Callable

from workloads.rules import Number
from workloads.timing import repeat_for

PARAMS: dict[str, Any] = {"seconds": 2.0, "n": 1024, "threads": 0}
# n 8192: three 512 MiB matrices and 10^12 flops a call, already minutes a trial under emulation
RULES = {"seconds": Number(0.001, 3600), "n": Number(1, 8192, integer=True),
         "threads": Number(0, 1024, integer=True)}
METRICS = {"gflops": ("GFLOP/s", True)}
PRIMARY = "gflops"
SEED = 20261129
THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "BLIS_NUM_THREADS")


def available() -> str | None:
    return None if importlib.util.find_spec("numpy") else "numpy is not installed"


def pin_blas_threads(threads: int) -> bool:
    """Whether the BLAS pool will use ``threads`` threads (only possible before numpy is first imported)."""
    if threads <= 0 or "numpy" in sys.modules:
        return False
    os.environ.update({var: str(threads) for var in THREAD_VARS})
    return True


def blas_info(np: Any) -> dict[str, Any]:
    """numpy's BLAS as built (where numpy says, >= 1.26) and as loaded (what runs, e.g. after Debian alternatives)."""
    try:
        with open("/proc/self/maps") as f:
            loaded = sorted({line.split()[-1] for line in f if "blas" in line.lower() or "mkl" in line.lower()})
    except OSError:
        loaded = []
    try:
        built = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except Exception:  # older numpy has no mode="dicts"
        built = {}
    return {"loaded": loaded, **{k: built[k] for k in ("name", "version", "openblas configuration") if k in built}}


def unit(params: dict[str, Any]) -> tuple[Callable[[], object], float, dict[str, Any]]:
    """One multiply, the GFLOP it does, and what decides the figure (for sliced trials, workloads/worker.py)."""
    n, threads = params["n"], params["threads"]
    pinned = pin_blas_threads(threads)
    import numpy as np

    rng = np.random.default_rng(SEED)
    a, b, out = rng.random((n, n)), rng.random((n, n)), np.empty((n, n))
    info = {"numpy": np.__version__, "blas": blas_info(np), "threads_pinned": pinned,
            "thread_env": {var: os.environ.get(var) for var in THREAD_VARS}}
    return (lambda: np.matmul(a, b, out=out)), 2 * n**3 / 1e9, info


def run(params: dict[str, Any], workdir: str) -> dict[str, Any]:
    n, threads = params["n"], params["threads"]
    work, _, info = unit(params)
    calls, elapsed = repeat_for(work, float(params["seconds"]))
    return {"metrics": {"gflops": calls * 2 * n**3 / elapsed / 1e9},
            "flags": ["threads-not-pinned"] if threads > 0 and not info["threads_pinned"] else [],
            "info": {"iterations": calls, "flops": calls * 2 * n**3, "elapsed_s": elapsed, **info}}
