"""Pure-Python sieve of Eratosthenes: interpreter loops over a bytearray, in numbers sieved per second.

The inner loop clears multiples one store at a time, on purpose: slice assignment would hand the work to memset
and measure memory, while this keeps it in the interpreter, with a strided-store pattern and a working set of
``limit`` bytes (cache-resident at the default) that the pure arithmetic of cpu.pyloop does not have. The prime
count goes into info as a check that the work was done right.
"""
from __future__ import annotations

import math
from typing import Any, Callable

from workloads.rules import Number
from workloads.timing import repeat_for

PARAMS: dict[str, Any] = {"seconds": 2.0, "limit": 200_000}
RULES = {"seconds": Number(0.001, 3600),
         "limit": Number(2, 100_000_000, integer=True)}  # a sieve of 10^8 takes tens of seconds
METRICS = {"numbers": ("numbers/s", True)}
PRIMARY = "numbers"


def count_primes(limit: int) -> int:
    """The number of primes below ``limit``, by sieving."""
    flags = bytearray(b"\x01") * limit
    flags[:2] = bytes(min(limit, 2))
    for i in range(2, math.isqrt(max(limit - 1, 0)) + 1):
        if flags[i]:
            for j in range(i * i, limit, i):
                flags[j] = 0
    return sum(flags)


def unit(params: dict[str, Any]) -> tuple[Callable[[], object], float, dict[str, Any]]:
    """One call of the work, the numbers it sieves, and the check figures (for sliced trials)."""
    limit = params["limit"]
    return (lambda: count_primes(limit)), limit, {"primes": count_primes(limit)}


def run(params: dict[str, Any], workdir: str) -> dict[str, Any]:
    limit = params["limit"]
    work, _, _ = unit(params)
    calls, elapsed = repeat_for(work, float(params["seconds"]))
    return {"metrics": {"numbers": calls * limit / elapsed},
            "info": {"iterations": calls, "sieves": calls, "limit": limit, "elapsed_s": elapsed,
                     "primes": count_primes(limit)}}
