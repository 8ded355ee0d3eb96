"""A clean start for every I/O block: the host's dirty pages written back before it, outside the timed part.

A trial inherits the host's dirty pages from the one before it (a fio layout writes hundreds of MiB), so its
first operations run into writeback it did not cause: in one io run ``metadata`` created its files in 0.32 s on
one environment and in 1.55 s natively in the same round. Before an I/O block (or whole trial) the runner calls
``sync`` and waits until the host's Dirty and Writeback (``/proc/meminfo``) are below SETTLED_KB together, for at
most SETTLE_TIMEOUT_S; what it found is kept in the trial (``info.writeback``), and a block that could not
settle (another process keeps writing) is flagged ``started-dirty``.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any, Callable

SETTLED_KB = 16 * 1024
SETTLE_TIMEOUT_S = 20.0
POLL_S = 0.05
MEMINFO = "/proc/meminfo"


@dataclass(frozen=True)
class Settled:
    """The host's writeback state before a block: at the start, after waiting, and how long it took."""

    dirty_kb_before: int
    writeback_kb_before: int
    dirty_kb: int
    writeback_kb: int
    waited_s: float

    @property
    def clean(self) -> bool:
        return self.dirty_kb + self.writeback_kb <= SETTLED_KB

    def as_info(self) -> dict[str, Any]:
        return {"dirty_kb_before": self.dirty_kb_before, "writeback_kb_before": self.writeback_kb_before,
                "dirty_kb": self.dirty_kb, "writeback_kb": self.writeback_kb, "waited_s": round(self.waited_s, 3),
                "clean": self.clean}


def dirty(path: str = MEMINFO) -> tuple[int, int]:
    """The host's Dirty and Writeback, in kB."""
    fields = {}
    with open(path) as meminfo:
        for line in meminfo:
            name, _, rest = line.partition(":")
            if name in ("Dirty", "Writeback"):
                fields[name] = int(rest.split()[0])
    return fields.get("Dirty", 0), fields.get("Writeback", 0)


def settle(timeout: float = SETTLE_TIMEOUT_S, read: Callable[[], tuple[int, int]] = dirty,
           sync: Callable[[], None] = os.sync, clock: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> Settled:
    """Write the host's dirty pages back and wait until little is left (or ``timeout`` passes)."""
    start = clock()
    before = read()
    sync()
    now = before
    while sum(now) > SETTLED_KB and clock() - start < timeout:
        sleep(POLL_S)
        now = read()
        if sum(now) > SETTLED_KB:
            sync()
    return Settled(before[0], before[1], now[0], now[1], clock() - start)
