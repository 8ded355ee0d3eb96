"""The psutil collector: a trial's process tree and the host's CPU, sampled in a thread (10 Hz by default).

Per sample: the tree's cumulative user/sys CPU, RSS, read/write bytes and context switches, and the host-wide CPU
split (user, system, iowait, steal, idle) since the previous sample. The totals do not fall when a child (fio)
ends, nor count its I/O twice once its parent has reaped it (see ``_Tree``); a counter the kernel does not give
(no /proc/<pid>/io) is None, unknown, never 0. The tree's read_bytes is what its processes fetched from
storage: the runner checks the workload's reads against it to catch figures that came from the page cache. Host
disk counters are read at start and stop too, for context only: any other process on the host moves them.
The host's disturbance over the trial (``disturbance``): the hypervisor's steal, the CPU that processes other
than the trial's tree and vbench itself took, and (``vbench.collectors.host``) other user-space processes' CPU
and storage I/O and the network traffic that was not the trial's; the runner flags a trial that others
disturbed (``vbench.validity.disturbance_reasons``).
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import Any

import psutil

from vbench.collectors import Sampler
from vbench.collectors.host import HostActivity
from vbench.model import Handle

HOST_CPU_FIELDS = ("user", "system", "iowait", "steal", "idle")
# CPU time spent running something (psutil's guest and guest_nice are already inside user and nice)
BUSY_FIELDS = ("user", "nice", "system", "irq", "softirq")


COUNTERS = ("cpu_user_s", "cpu_system_s", "read_bytes", "write_bytes", "ctx_switches")
PER_PROCESS = ("cpu_user_s", "cpu_system_s", "ctx_switches")  # a process's own: kept after it exits
IO = ("read_bytes", "write_bytes")  # /proc/<pid>/io: a process's own plus its reaped children's


@dataclass
class _Tree:
    """The watched tree's counters, less what they were when watching began (a long-lived process such as QEMU
    counts only this trial's share).

    CPU time and context switches are a process's own, so each PID's last seen value is kept after it exits.
    I/O bytes are not: the kernel adds a reaped child's to its parent's, so keeping an exited child's value as
    well would count its I/O twice (measured: a fio job's reads counted 2x). The tree's I/O is the sum over its
    live processes, and the largest such sum seen, since it falls only while a child is a zombie (counted
    nowhere) or once the root has exited (taking it all out of the tree)."""

    per_pid: dict[int, dict] = field(default_factory=dict)
    baseline: dict[int, dict] = field(default_factory=dict)
    procs: dict[int, psutil.Process] = field(default_factory=dict)
    io_baseline: dict[str, int | None] = field(default_factory=dict)
    io_most: dict[str, int | None] = field(default_factory=dict)
    _live_io: dict[str, int | None] = field(default_factory=dict)

    @property
    def pids(self) -> set[int]:
        """Every process seen in the tree."""
        return set(self.per_pid)

    def start(self, root: psutil.Process) -> None:
        self.update(root)
        self.baseline = {pid: dict(values) for pid, values in self.per_pid.items()}
        self.io_baseline, self.io_most = dict(self._live_io), {}

    def update(self, root: psutil.Process) -> dict:
        procs = [self._process(pid) for pid in descendants(root)]
        procs = [p for p in procs if p is not None]
        rss, live = 0, []
        for proc in procs:
            try:
                with proc.oneshot():
                    cpu, mem, ctx = proc.cpu_times(), proc.memory_info(), proc.num_ctx_switches()
                    io = proc.io_counters() if hasattr(proc, "io_counters") else None
            except psutil.Error:
                continue
            rss += mem.rss
            self.per_pid[proc.pid] = {"cpu_user_s": cpu.user, "cpu_system_s": cpu.system,
                                      "ctx_switches": ctx.voluntary + ctx.involuntary}
            live.append(io)
        self._live_io = {k: None if any(io is None for io in live) else sum(getattr(io, k) for io in live)
                         for k in IO}  # unknown, never 0, when any live process's counter is unknown
        for key in IO:
            now, base = self._live_io[key], self.io_baseline.get(key, 0)
            if now is None or base is None:
                self.io_most[key] = None
            elif self.io_most.get(key, 0) is not None:
                self.io_most[key] = max(self.io_most.get(key, 0), now - base)
        totals = {k: _total(k, self.per_pid, self.baseline) for k in PER_PROCESS}
        return {**totals, **{k: self.io_most.get(k) for k in IO}, "rss_bytes": rss, "processes": len(procs)}

    def _process(self, pid: int) -> psutil.Process | None:
        """A cached psutil handle (it remembers the process's identity, so a reused PID is not mistaken)."""
        if pid not in self.procs:
            try:
                self.procs[pid] = psutil.Process(pid)
            except psutil.Error:
                return None
        return self.procs[pid]


def _total(key: str, per_pid: dict[int, dict], baseline: dict[int, dict]) -> float:
    """The tree's change in one per-process counter, every PID's last value counted."""
    return sum(values[key] - baseline.get(pid, {}).get(key, 0) for pid, values in per_pid.items())


def descendants(root: psutil.Process, proc_root: str = "/proc") -> list[int]:
    """``root``'s PID and its descendants'. Where the kernel has /proc/<pid>/task/<tid>/children, walk it: that
    reads only the tree, while psutil's children() reads every process on the host."""
    if not os.path.exists(f"{proc_root}/{os.getpid()}/task/{os.getpid()}/children"):
        try:
            return [root.pid, *(p.pid for p in root.children(recursive=True))]
        except psutil.Error:
            return [root.pid]
    pids, queue = [], [root.pid]
    while queue:
        pid = queue.pop()
        pids.append(pid)
        try:
            tasks = os.listdir(f"{proc_root}/{pid}/task")
        except OSError:
            continue  # it ended
        for tid in tasks:
            try:
                with open(f"{proc_root}/{pid}/task/{tid}/children") as f:
                    queue += [int(c) for c in f.read().split()]
            except OSError:
                continue  # the thread ended
    return pids


class ProcessCollector(Sampler):
    """Start before the trial, ``attach`` the handle when the process exists, ``stop`` for the summary.

    ``workload`` names the trial's (its kind decides which interfaces' traffic is others'); ``host=False`` leaves
    the rest of the host to the caller, which reads it once for a block of trials (``vbench.run.sliced``)."""

    name = "psutil"

    def __init__(self, interval: float = 0.1, workload: str = "", host: bool = True):
        super().__init__(interval)
        self._root: psutil.Process | None = None
        self._tree = _Tree()
        self._lock = threading.Lock()
        self._workload = workload
        self._host = HostActivity() if host else None

    @property
    def pids(self) -> set[int]:
        """Every process the collector saw in the trial's tree."""
        with self._lock:
            return self._tree.pids

    def start(self) -> None:
        if self._host is not None:
            self._host.start()
        self._cpu0 = self._cpu_last = psutil.cpu_times()
        self._disk0 = psutil.disk_io_counters()
        self._own0 = psutil.Process().cpu_times()
        super().start()

    def attach(self, handle: Handle) -> None:
        if handle.pid is None:
            return
        try:
            root = psutil.Process(handle.pid)
        except psutil.Error:
            return
        with self._lock:
            self._tree.start(root)
            self._root = root

    def sample(self) -> dict:
        now = psutil.cpu_times()
        host = _cpu_split(self._cpu_last, now)
        self._cpu_last = now
        with self._lock:
            root = self._root
        tree = self._tree.update(root) if root is not None else {}
        return {**tree, **{f"host_{k}_pct": v for k, v in host.items()}}

    def summary(self) -> dict:
        last = self.series[-1] if self.series else {}
        disk1 = psutil.disk_io_counters()
        out = {"samples": len(self.series), "interval_s": self.interval,
               "host_cpu_pct": _cpu_split(self._cpu0, psutil.cpu_times()),
               "rss_max_bytes": max((s.get("rss_bytes", 0) for s in self.series), default=0)}
        for key in COUNTERS:
            out[key] = last.get(key)
        own = psutil.Process().cpu_times()
        tree = None if last.get("cpu_user_s") is None else last["cpu_user_s"] + last["cpu_system_s"]
        figures: dict[str, Any] = disturbance(self._cpu0, psutil.cpu_times(), tree,
                                              (own.user + own.system) - (self._own0.user + self._own0.system),
                                              self.elapsed())
        if self._host is not None:
            figures.update(self._host.stop(self.pids, self._workload))
        out["disturbance"] = figures
        if self._disk0 is not None and disk1 is not None:
            out["disk_read_bytes"] = disk1.read_bytes - self._disk0.read_bytes
            out["disk_write_bytes"] = disk1.write_bytes - self._disk0.write_bytes
            # requests as the host's devices completed them: how the bytes were cut (merges included)
            out["disk_read_count"] = disk1.read_count - self._disk0.read_count
            out["disk_write_count"] = disk1.write_count - self._disk0.write_count
        return out


class HelperCollector(Sampler):
    """Processes outside the trial's tree that carry its traffic (docker-proxy for a published port), from
    ``Handle.extra_pids``: their CPU, context switches and memory over the trial."""

    name = "helpers"

    def __init__(self, interval: float = 0.1):
        super().__init__(interval)
        self._trees: list[tuple[psutil.Process, _Tree]] = []
        self._lock = threading.Lock()

    def attach(self, handle: Handle) -> None:
        for pid in handle.extra_pids:
            try:
                root, tree = psutil.Process(pid), _Tree()
            except psutil.Error:
                continue
            tree.start(root)
            with self._lock:
                self._trees.append((root, tree))

    def sample(self) -> dict | None:
        with self._lock:
            trees = list(self._trees)
        if not trees:
            return None
        parts = [tree.update(root) for root, tree in trees]
        return {k: None if any(p.get(k) is None for p in parts) else sum(p[k] for p in parts)
                for k in (*COUNTERS, "rss_bytes", "processes")}

    def summary(self) -> dict | None:
        if not self.series:
            return None
        last = self.series[-1]
        return {"samples": len(self.series), "pids": [root.pid for root, _ in self._trees],
                **{k: last.get(k) for k in COUNTERS},
                "rss_max_bytes": max(s.get("rss_bytes", 0) for s in self.series)}


def disturbance(before, after, tree_cpu_s: float | None, own_cpu_s: float, wall_s: float) -> dict:
    """What else ran on the host during a trial, from two psutil.cpu_times() readings (pure): ``others_cores``
    is the CPU taken by everything but the trial's tree and vbench's own process, in CPUs (0.25: a quarter of
    one CPU on average), None when the tree was not watched; ``steal_pct`` the share of all CPU time the
    hypervisor gave to someone else."""
    deltas = {f: max(0.0, getattr(after, f, 0.0) - getattr(before, f, 0.0)) for f in after._fields}
    total = sum(v for f, v in deltas.items() if f not in ("guest", "guest_nice"))
    busy = sum(deltas.get(f, 0.0) for f in BUSY_FIELDS)
    others = None if tree_cpu_s is None else max(0.0, busy - tree_cpu_s - own_cpu_s)
    return {"others_cpu_s": None if others is None else round(others, 4),
            "others_cores": None if others is None or wall_s <= 0 else round(others / wall_s, 4),
            "vbench_cpu_s": round(own_cpu_s, 4), "wall_s": round(wall_s, 4),
            "steal_pct": round(100.0 * deltas.get("steal", 0.0) / total, 2) if total > 0 else 0.0}


def _cpu_split(before, after) -> dict[str, float]:
    """Percent of all CPU time between two psutil.cpu_times() readings, per field."""
    deltas = {f: max(0.0, getattr(after, f, 0.0) - getattr(before, f, 0.0)) for f in after._fields}
    total = sum(deltas.values())
    if total <= 0:
        return {f: 0.0 for f in HOST_CPU_FIELDS}
    return {f: round(100.0 * deltas.get(f, 0.0) / total, 2) for f in HOST_CPU_FIELDS}
