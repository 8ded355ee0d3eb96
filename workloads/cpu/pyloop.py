"""Pure-Python integer arithmetic: the interpreter's speed, which a virtualization layer should barely touch.

One op is one iteration of a loop doing a multiply, an add, a mask and an xor on small ints (an LCG step folded
into a checksum), the bread and butter of interpreted code. It touches almost no memory, so a difference from
native here means stolen time, a slower clock or emulation (QEMU TCG), not paging or I/O. The checksum goes into
info so every environment provably did the same work.
"""
from __future__ import annotations

from typing import Any, Callable

from workloads.rules import Number
from workloads.timing import repeat_for

PARAMS: dict[str, Any] = {"seconds": 2.0, "loops": 200_000}
RULES = {"seconds": Number(0.001, 3600),
         "loops": Number(1, 100_000_000, integer=True)}  # 10^8 loops take seconds a call
METRICS = {"ops": ("ops/s", True)}
PRIMARY = "ops"


def lcg_checksum(loops: int) -> int:
    """The xor of ``loops`` steps of a 31-bit linear congruential generator."""
    x, acc = 1, 0
    for _ in range(loops):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        acc ^= x
    return acc


def unit(params: dict[str, Any]) -> tuple[Callable[[], object], float, dict[str, Any]]:
    """One call of the work, the ops it does, and the check figures (for sliced trials, workloads/worker.py)."""
    loops = params["loops"]
    return (lambda: lcg_checksum(loops)), loops, {"checksum": lcg_checksum(loops)}


def run(params: dict[str, Any], workdir: str) -> dict[str, Any]:
    loops = params["loops"]
    work, _, _ = unit(params)
    calls, elapsed = repeat_for(work, float(params["seconds"]))
    return {"metrics": {"ops": calls * loops / elapsed},
            "info": {"iterations": calls, "ops": calls * loops, "elapsed_s": elapsed,
                     "checksum": lcg_checksum(loops)}}
