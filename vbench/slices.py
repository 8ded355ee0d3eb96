"""Paired slices: a round's trials of one workload made of many short slices that alternate between environments.

A whole trial per environment lets seconds pass between the two sides of a pair, and the host's state (its
noise comes in phases of a few seconds, issue 14) changes in between. Here every environment of the block has
a warm worker (``workloads/worker.py``; the runner starts a new one every block, so that a process's own
layout bias varies from round to round like any other noise) and the block runs cycles of slices in a
palindromic order over them (A B C C B A: each environment's mean slice time is centred on the same moment, so
a drift that is linear over a cycle cancels). A slice is a whole number of calls of the workload's unit of
work, calibrated on the baseline to last about the slice length, the same number in every environment (the
same work on both sides); only a side whose unit takes more than SLOW_SIDE times the baseline's (an emulated
VM) is calibrated on its own, as a whole trial runs for a fixed time, so that its block does not take fifty
times the baseline's. The cycles give about a trial's length (``seconds``) to the slowest side, and at least
MIN_KEPT_CYCLES are kept. The first cycle is discarded (it carries the switch from the previous block); each
environment's figure is its total work over its total time of the kept slices, and its trial record keeps
the slices' spread, count and length in ``info.slices``.

The slice length is the workload's ``SLICE_S``, else ``DEFAULT_SLICE_S``, chosen from ``benchmarks/noise.py``.
"""
from __future__ import annotations

import math
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Mapping, Sequence

from vbench.envs.workers import WorkerLost, WorkerPipe

DEFAULT_SLICE_S = 0.05
# How a side's figure is made from its kept slices: "total" (work over time) or "pair-median" (the baseline's
# total times the median over slice pairs of the side's rate over the baseline's; chosen for I/O, whose single
# slices can stall: in benchmarks/io_noise.py it was the steadiest or close to it in every row, 50 ms slices)
ESTIMATORS = ("total", "pair-median")
DISCARDED_CYCLES = 1
MIN_KEPT_CYCLES = 2
SLOW_SIDE = 4.0


@dataclass
class Sliced:
    """One environment's part of a block: its figure (work per second of the kept slices) or why it failed."""

    label: str
    rate: float | None = None
    error: str | None = None
    prepared: dict = field(default_factory=dict)
    times: list[float] = field(default_factory=list)  # every slice's own duration, kept cycles only
    works: list[float] = field(default_factory=list)  # every kept slice's work (primary unit x seconds)
    cycle_of: list[int] = field(default_factory=list)  # the cycle each kept slice belongs to
    host_wall_s: float = 0.0  # the host's clock over this environment's requests, channel included
    timed_out: bool = False  # its slices took longer than a whole trial's timeout
    proc_stat: dict = field(default_factory=dict)  # the environment's /proc/stat over the kept slices, summed
    rusage: dict = field(default_factory=dict)  # the worker's getrusage over the kept slices, summed
    round_trips: list[float] = field(default_factory=list)  # the host's clock over each kept slice's request
    calls: int = 0  # calls of the unit per slice
    total: float | None = None  # total work over total time, kept when the figure is another estimator's

    def keep(self, reply: dict, round_trip: float, cycle: int) -> None:
        self.times.append(float(reply["elapsed_s"]))
        measured = self.prepared.get("measured")
        self.works.append(float(reply["work"]) if measured else float(self.prepared["amount"]) * self.calls)
        self.cycle_of.append(cycle)
        self.round_trips.append(round_trip)
        for total, part in ((self.proc_stat, reply.get("proc_stat")), (self.rusage, reply.get("rusage"))):
            for key, value in (part or {}).items():
                total[key] = round(total.get(key, 0) + value, 6)

    def accounting(self) -> dict:
        """The guest-side accounting of a whole trial's record (workloads/run.py), over the kept slices."""
        return {"cpu": {"proc_stat": self.proc_stat, "ncpu": self.prepared.get("ncpu")},
                "rusage": {"self": self.rusage, "children": {k: 0 for k in self.rusage}},
                "guest": self.prepared.get("guest")}

    def info(self, cycles: int, order: Sequence[str]) -> dict:
        spread = statistics.stdev(self.times) / statistics.fmean(self.times) if len(self.times) > 1 else None
        return {**self.prepared.get("info", {}),
                "slices": {"count": len(self.times), "calls_per_slice": self.calls, "cycles": cycles,
                           "discarded_cycles": DISCARDED_CYCLES, "order": " ".join(palindrome(order)),
                           "median_slice_s": round(statistics.median(self.times), 6) if self.times else None,
                           "slice_cv": None if spread is None else round(spread, 4),
                           "unit_s": self.prepared.get("unit_s"), "worker_pid": self.prepared.get("pid"),
                           **({"total_rate": self.total} if self.total is not None else {}),
                           "affinity": self.prepared.get("affinity"),
                           **({"host_placement": self.prepared["host_placement"]}
                              if "host_placement" in self.prepared else {})}}


def clock_drift(part: Sliced) -> float | None:
    """How far the far end's clock (the guest's) strays from the host's over the kept slices, as a share of
    the host's time: each round trip is the slice plus a fixed cost of the channel (the smallest round trip
    less its slice estimates it), so a clock running slow or fast shows as the rest. None without slices."""
    if not part.times:
        return None
    fixed = min(host - guest for host, guest in zip(part.round_trips, part.times))
    host = sum(part.round_trips) - fixed * len(part.times)
    return (host - sum(part.times)) / host if host > 0 else None


def total_rate(part: Sliced) -> float | None:
    """Total work over total time of the kept slices (None when they did no work at all)."""
    work = sum(part.works)
    return work / sum(part.times) if work > 0 else None


def pair_median_rate(part: Sliced, base: Sliced) -> float | None:
    """The baseline's total rate times the median over slice pairs of the part's rate over the baseline's: the
    k-th kept slice of each side makes a pair (in a palindromic cycle, the two sides' first-half slices, then
    their second-half ones), so one stalled slice (either side's) moves one pair, not the figure. Kept on the
    rate scale, so that the part's figure over the baseline's is that median. None without a full pair."""
    logs = [log_ratio(w / t, bw / bt) for w, t, bw, bt in zip(part.works, part.times, base.works, base.times)
            if t > 0 and bt > 0]
    if not logs or base.rate is None:
        return None
    middle = statistics.median(logs)  # a slice that did nothing (an emulated guest's) is a stall like any other
    return base.rate * math.exp(middle) if math.isfinite(middle) else None


def log_ratio(own: float, theirs: float) -> float:
    """log(own / theirs), infinite where either side did no work (so a median can still pass it by)."""
    if own <= 0 or theirs <= 0:
        return 0.0 if own <= 0 and theirs <= 0 else (-math.inf if own <= 0 else math.inf)
    return math.log(own / theirs)


def palindrome(labels: Sequence[str]) -> list[str]:
    """One cycle's order: every label, then every label again in reverse (A B C C B A)."""
    return [*labels, *reversed(labels)]


def block_seconds(params: Mapping[str, object]) -> float:
    """About how long a block gives each side: the workload's ``seconds`` (a cpu workload's), else its
    ``runtime`` (a fio job's), else one second."""
    for key in ("seconds", "runtime"):
        if key in params:
            return float(params[key])  # type: ignore[arg-type]
    return 1.0


def calls_per_slice(unit_s: float, slice_s: float) -> int:
    return max(1, round(slice_s / unit_s)) if unit_s > 0 else 1


def cycles_for(slice_times: list[float], seconds: float) -> int:
    """Cycles (the discarded one included) for about ``seconds`` of slices in the slowest environment: a side
    whose single call is far longer than a slice (an emulated VM) must not stretch the block to many times a
    whole trial's length."""
    slowest = max(max(slice_times), 1e-9)
    return max(MIN_KEPT_CYCLES, math.ceil(seconds / (2 * slowest))) + DISCARDED_CYCLES


def steady_slice(part: Sliced, discarded: list[float]) -> float:
    """How long one of ``part``'s slices takes: the calibrated calls, or the quicker of its slices in the discarded
    cycle where that was longer (a unit that slows down once the block is under way, such as metadata against a
    busy journal, must not stretch the block several-fold)."""
    calibrated = part.calls * float(part.prepared["unit_s"])
    return max(calibrated, min(discarded)) if discarded else calibrated


def run_block(workers: Mapping[str, WorkerPipe], invocation: dict, fields: Mapping[str, dict], seconds: float,
              slice_s: float, timeout: float, baseline: str, estimator: str = "total",
              prepare_together: bool = False) -> tuple[dict[str, Sliced], int]:
    """Run one block over ``workers`` (label -> pipe, in the order of the cycle's first half; ``fields``: what
    each label's environment adds to the invocation, its working directory first); each label's
    outcome and the cycles. ``estimator`` (see ESTIMATORS) makes each side's figure from its slices;
    ``prepare_together`` prepares every side at once (their I/O files laid out side by side, none of them last:
    see PREPARE_TOGETHER in workloads/io/fio.py), one after the other otherwise (a unit's calibration is timed
    alone). A worker that fails fails its environment's part only; when the baseline's fails, every part fails
    (there is nothing to compare with)."""
    labels = list(workers)
    parts = {label: Sliced(label) for label in labels}
    last_start = [0.0]  # when the latest request was sent (a kept slice's round trip ends at its reply)

    def ask(label: str, request: dict) -> dict | None:
        part = parts[label]
        if part.error:
            return None
        start = last_start[0] = time.perf_counter()
        try:
            reply = workers[label].ask(request, max(timeout - part.host_wall_s, 0.001))
        except WorkerLost as exc:
            part.error = f"the worker was lost: {exc}"
            reply = None
        part.host_wall_s += time.perf_counter() - start
        if part.host_wall_s >= timeout:  # a whole trial's timeout bounds each side's share of the block
            part.timed_out = True
            part.error = part.error or f"its slices went past the trial's timeout of {timeout:g}s"
            return None
        if reply is None:
            return None
        if not reply.get("ok"):
            part.error = str(reply.get("error") or "the worker failed")
            return None
        return reply

    def prepare(label: str) -> None:
        reply = ask(label, {"op": "prepare", **invocation, **fields[label]})
        if reply:
            parts[label].prepared = reply

    if prepare_together:
        with ThreadPoolExecutor(max_workers=len(labels)) as pool:
            list(pool.map(prepare, labels))
    else:
        for label in labels:
            prepare(label)
    base = parts[baseline]
    if base.error:
        for part in parts.values():
            part.error = part.error or f"the baseline's worker failed: {base.error}"
        return parts, 0
    base_unit = float(base.prepared["unit_s"])
    for part in parts.values():
        if not part.error:
            unit = float(part.prepared["unit_s"])
            part.calls = calls_per_slice(unit if unit > SLOW_SIDE * base_unit else base_unit, slice_s)
    discarded: dict[str, list[float]] = {label: [] for label in labels}
    cycle, cycles = 0, DISCARDED_CYCLES
    while cycle < cycles:
        for label in palindrome(labels):
            reply = ask(label, {"op": "slice", "calls": parts[label].calls})
            if reply and cycle >= DISCARDED_CYCLES:
                parts[label].keep(reply, time.perf_counter() - last_start[0], cycle)
            elif reply:
                discarded[label].append(float(reply["elapsed_s"]))
        cycle += 1
        if cycle == DISCARDED_CYCLES:  # how long a slice really takes, from the discarded cycle (see steady_slice)
            steady = [steady_slice(p, discarded[p.label]) for p in parts.values() if not p.error]
            cycles = cycles_for(steady, seconds) if steady else cycle  # every side failed: the block is over
    for part in parts.values():
        if not part.error and part.times:
            part.rate = total_rate(part)
    if estimator == "pair-median" and base.rate is not None:
        for part in parts.values():
            if part is not base and part.rate is not None:
                part.total, part.rate = part.rate, pair_median_rate(part, base)
    for part in parts.values():
        if part.rate is None and not part.error:
            part.error = (f"its {len(part.times)} kept slices did no measurable work"
                          + (" in most of their pairs with the baseline's" if part.total else ""))
    if base.error:
        for part in parts.values():
            part.rate, part.error = None, part.error or f"the baseline's worker failed: {base.error}"
    return parts, cycles
