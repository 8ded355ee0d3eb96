"""Naive recursive Fibonacci: function calls and integer adds in the interpreter, nothing else.

A workload is a module that imports only the standard library (and vbench's stdlib-only ``workloads`` helpers):
the package is copied into containers and guests, where vbench is not installed.
"""
from __future__ import annotations

from typing import Any, Callable

from workloads.rules import Number
from workloads.timing import repeat_for

PARAMS: dict[str, Any] = {"seconds": 1.0, "n": 20}
RULES = {"seconds": Number(0.001, 3600), "n": Number(1, 30, integer=True)}
METRICS = {"calls_per_s": ("calls/s", True)}  # name -> (unit, higher is better)
PRIMARY = "calls_per_s"


def fib(n: int) -> int:
    return n if n < 2 else fib(n - 1) + fib(n - 2)


def unit(params: dict[str, Any]) -> tuple[Callable[[], object], float, dict[str, Any]]:
    """One call of the work and the function calls it makes: vbench slices CPU work with it."""
    n = params["n"]
    calls = 2 * fib(n + 1) - 1  # fib(n) calls itself this many times, itself included
    return (lambda: fib(n)), calls, {"n": n}


def run(params: dict[str, Any], workdir: str) -> dict[str, Any]:
    work, calls, info = unit(params)
    repeats, elapsed = repeat_for(work, float(params["seconds"]))
    return {"metrics": {"calls_per_s": repeats * calls / elapsed}, "info": {**info, "repeats": repeats}}
