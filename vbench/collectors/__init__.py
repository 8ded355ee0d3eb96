"""Collectors: sample metrics in the background while a trial runs, summarised into the trial record.

A collector has ``start()``, ``attach(handle)`` (called by the environment once the trial's process exists),
``stop() -> dict | None`` (the summary; None when it had nothing to watch) and ``series`` (stored beside the
trials). ``Sampler`` supplies the thread; a collector supplies ``sample()`` and ``summary()``.
"""
from __future__ import annotations

import threading
import time


class Sampler:
    """A background thread calling ``sample()`` every ``interval`` seconds until ``stop()``."""

    name = "sampler"

    def __init__(self, interval: float = 0.1):
        self.interval = interval
        self.series: list[dict] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = time.monotonic()

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._loop, name=f"vbench-{self.name}", daemon=True)
        self._thread.start()

    def stop(self) -> dict | None:
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._record()  # a last sample so short trials still have one
        return self.summary()

    def elapsed(self) -> float:
        return round(time.monotonic() - self._t0, 4)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._record()

    def _record(self) -> None:
        sample = self.sample()
        if sample is not None:
            self.series.append({"t": self.elapsed(), **sample})

    def attach(self, handle) -> None:
        """Watch what ``handle`` names; collectors that need nothing from it ignore it."""

    def sample(self) -> dict | None:
        raise NotImplementedError

    def summary(self) -> dict | None:
        raise NotImplementedError
