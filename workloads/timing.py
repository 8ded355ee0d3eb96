"""Timing helpers shared by the CPU and memory workloads (stdlib only)."""
from __future__ import annotations

import time
from typing import Callable


def repeat_for(work: Callable[[], object], seconds: float, min_iterations: int = 3) -> tuple[int, float]:
    """(calls, elapsed seconds) of calling ``work`` until ``seconds`` passed, after one untimed warmup call."""
    work()
    calls, start = 0, time.monotonic()
    while True:
        work()
        calls += 1
        elapsed = time.monotonic() - start
        if elapsed >= seconds and calls >= min_iterations:
            return calls, elapsed
