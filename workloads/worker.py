"""A warm worker for paired slices: one long-lived process per environment, driven over its pipe (stdlib only).

A sliced trial alternates short slices of one workload between environments (see ``vbench.slices``). Starting a
process per slice would measure start-up, so each environment keeps one of these alive and asks it for slices.
One JSON request per line on stdin, one JSON reply per line on stdout:

- ``{"op": "prepare", "workload": "cpu.pyloop", "params": {...}, "workdir": "/scratch", "cpu": 1}`` pins the
  worker to one CPU when ``cpu`` is given (the ``cpu``-th of those it may use, modulo their number; otherwise
  every CPU it was started with), builds the workload's unit of work (its ``unit(params)``), calls it once
  untimed, and answers ``{"ok": true, "unit_s": ..., "amount": ..., "info": {...}, "affinity": [...]}``: the
  time of one call (the quickest of up to three timed ones), how much work one call does (in the primary
  metric's unit times seconds), and the CPUs the worker now runs on. A unit whose amount is None measures its
  own work (an I/O unit: how much a paused fio did while resumed); each call returns it, and a slice's reply
  adds ``"work"``, the sum over its calls. A unit with a ``close()`` (a fio process, a scratch file) is closed
  when the next is prepared and when the worker ends.
- ``{"op": "slice", "calls": N}`` calls the unit N times and answers ``{"ok": true, "elapsed_s": ...,
  "proc_stat": {...}, "rusage": {...}}``: its time, and the environment's /proc/stat and the worker's getrusage
  deltas over it (read outside the timed calls), as ``workloads/run.py`` reports them for a whole trial.
- ``{"op": "series", "calls": N, "count": K}`` runs K slices back to back and answers their start times and
  durations (``benchmarks/noise.py`` reads the noise's time structure from them).
- ``{"op": "ping"}`` answers ``{"ok": true, "pid": ...}`` once the worker is up; ``{"op": "close"}`` closes the
  prepared unit (vbench asks it before it drops a worker, which may be killed); ``{"op": "exit"}`` ends it.

Any failure is ``{"ok": false, "error": "..."}`` and the worker goes on; parameters are checked against the
workload's rules as ``workloads/run.py`` checks them.
"""
from __future__ import annotations

import json
import os
import sys
import time

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
    sys.path.append(_ROOT)  # last, as in run.py: a virtualenv's packages must not stand in for the interpreter's

import platform  # noqa: E402
import resource  # noqa: E402

from workloads.rules import check_workload  # noqa: E402  (importable only once _ROOT is on the path)
from workloads.run import delta, fill_params, invoked, read_proc_stat, rusage  # noqa: E402


class Worker:
    def __init__(self) -> None:
        self.unit = None
        self.measured = False  # the unit returns its own work
        self.cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None

    def place(self, cpu) -> None:
        """Pin to the ``cpu``-th CPU this worker may use, or back onto all of them for None."""
        if self.cpus is None:
            return
        os.sched_setaffinity(0, self.cpus if cpu is None else {self.cpus[int(cpu) % len(self.cpus)]})

    def handle(self, request: dict) -> dict | None:
        op = request.get("op")
        if op == "prepare":
            return self.prepare(request)
        if op in ("slice", "series"):
            if self.unit is None:
                return {"ok": False, "error": "no workload prepared"}
            calls = int(request["calls"])
            if calls < 1:
                return {"ok": False, "error": f"calls must be at least 1, not {calls}"}
            if op == "slice":
                stat0, self0 = read_proc_stat(), rusage(resource.RUSAGE_SELF)
                elapsed, work = self.slice(calls)
                stat1, self1 = read_proc_stat(), rusage(resource.RUSAGE_SELF)
                return {"ok": True, "elapsed_s": elapsed, "proc_stat": delta(stat1, stat0),
                        "rusage": delta(self1, self0), **({"work": work} if self.measured else {})}
            starts, durations, works = [], [], []
            for _ in range(int(request.get("count", 1))):
                starts.append(time.monotonic())
                elapsed, work = self.slice(calls)
                durations.append(elapsed)
                works.append(work)
            return {"ok": True, "t": starts, "elapsed_s": durations, **({"work": works} if self.measured else {})}
        if op == "ping":  # ready: the interpreter has started and read its first request
            return {"ok": True, "pid": os.getpid()}
        if op == "close":  # the unit's resources (a paused fio, its file) go before the worker does
            self.close()
            return {"ok": True}
        if op == "exit":
            return None
        return {"ok": False, "error": f"unknown op {op!r}"}

    def prepare(self, request: dict) -> dict:
        module = invoked(request)
        if not hasattr(module, "unit"):
            return {"ok": False, "error": f"{request['workload']} cannot be sliced (it has no unit of work)"}
        params = check_workload(module, fill_params(module, request.get("params", {})))
        reason = module.available() if hasattr(module, "available") else None
        if reason:
            return {"ok": False, "error": f"unavailable: {reason}"}
        os.chdir(request.get("workdir") or os.getcwd())
        self.place(request.get("cpu"))
        self.close()
        try:
            work, amount, info = module.unit(params)
        except RuntimeError as exc:
            if str(exc).startswith("unavailable: "):  # as available() says it: plainly, not as a crash
                return {"ok": False, "error": str(exc)}
            raise
        self.unit, self.measured = work, amount is None
        try:
            unit_s = self.calibrate(work)
        except BaseException:
            self.close()
            raise
        return {"ok": True, "unit_s": unit_s, "amount": amount, "measured": self.measured, "info": info,
                "pid": os.getpid(),
                "ncpu": os.cpu_count(), "guest": {"python": platform.python_version(),
                                                  "kernel": platform.release(), "hostname": platform.node()},
                "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None}

    @staticmethod
    def calibrate(work) -> float:
        """The time of one call: the quickest of up to three (in 0.2 s), after one untimed call that keeps
        first-call costs (imports, allocation, caches) out of every slice; one slow call must not skew slices."""
        work()
        unit_s, spent = float("inf"), 0.0
        for _ in range(3):
            start = time.perf_counter()
            work()
            took = time.perf_counter() - start
            unit_s, spent = min(unit_s, took), spent + took
            if spent > 0.2:
                break
        return unit_s

    def slice(self, calls: int) -> tuple[float, float]:
        """The time of ``calls`` calls of the unit, and the work they report (a measured unit's) or 0.

        A measured unit may return its work with the time it spent doing it (a paused fio: from resuming to
        stopping it, without the wait for the stop and the reading of its count); when every call does, that is
        the slice's time, otherwise the calls' wall time."""
        work, done = self.unit, 0.0
        start = time.perf_counter()
        if self.measured:
            active: float | None = 0.0
            for _ in range(calls):
                got = work()
                if isinstance(got, tuple):
                    got, seconds = got
                    active = None if active is None else active + seconds
                else:
                    active = None
                done += got
            if active:
                return active, done
        else:
            for _ in range(calls):
                work()
        return time.perf_counter() - start, done

    def close(self) -> None:
        """Release the prepared unit's resources (its ``close()``, if it has one)."""
        unit, self.unit = self.unit, None
        if unit is not None and hasattr(unit, "close"):
            unit.close()


def serve(stdin, stdout) -> None:
    worker = Worker()
    try:
        _serve(worker, stdin, stdout)
    finally:
        worker.close()


def _serve(worker: Worker, stdin, stdout) -> None:
    for line in stdin:
        if not line.strip():
            continue
        try:
            reply = worker.handle(json.loads(line))
        except Exception as exc:  # one bad request fails alone; the worker stays warm for the next
            reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        if reply is None:
            return
        stdout.write(json.dumps(reply) + "\n")
        stdout.flush()


def main() -> int:
    # A workload that prints must not corrupt the protocol: the replies go to the real stdout, prints to stderr.
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
