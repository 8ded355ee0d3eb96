"""The cgroup collector: a container's own CPU, throttling, memory and block I/O counters, v1 and v2.

The cgroup directories come from the environment's handle (read from the container's /proc/<pid>/cgroup, not
guessed). Readers are pure functions of a directory, so tests run them on captured trees.

cgroup v1 caveat (measured on this kind of host): blkio.throttle.* counts a device only when a throttle rule
exists for it; the docker environment sets a rule far above any device's speed so they count. Buffered writes
that are never fsynced are not attributed to the container under v1.
"""
from __future__ import annotations

from pathlib import Path

from vbench.collectors import Sampler
from vbench.model import Handle

COUNTERS = ("cpu_usage_s", "cpu_user_s", "cpu_system_s", "nr_throttled", "throttled_s",
            "io_read_bytes", "io_write_bytes", "io_read_ops", "io_write_ops")
USER_HZ = 100  # cpuacct.stat is in USER_HZ ticks, 100 on Linux whatever CONFIG_HZ is


def read_v1(paths: dict[str, str]) -> dict:
    """Counters of a v1 cgroup from its per-controller directories (``cpuacct``, ``cpu``, ``memory``, ``blkio``)."""
    out: dict = {}
    cpuacct = paths.get("cpuacct")
    if cpuacct:
        out["cpu_usage_s"] = _scaled(_int(Path(cpuacct, "cpuacct.usage")), 1e9)
        stat = _keyed(Path(cpuacct, "cpuacct.stat"))
        out["cpu_user_s"] = _scaled(stat.get("user"), USER_HZ)
        out["cpu_system_s"] = _scaled(stat.get("system"), USER_HZ)
    cpu = paths.get("cpu")
    if cpu:
        stat = _keyed(Path(cpu, "cpu.stat"))
        out["nr_throttled"], out["throttled_s"] = stat.get("nr_throttled"), _scaled(stat.get("throttled_time"), 1e9)
    memory = paths.get("memory")
    if memory:
        out["memory_bytes"] = _int(Path(memory, "memory.usage_in_bytes"))
        out["memory_peak_bytes"] = _int(Path(memory, "memory.max_usage_in_bytes"))
    blkio = paths.get("blkio")
    if blkio:
        volume = _blkio_totals(Path(blkio, "blkio.throttle.io_service_bytes"))
        ops = _blkio_totals(Path(blkio, "blkio.throttle.io_serviced"))
        out.update(io_read_bytes=volume.get("Read"), io_write_bytes=volume.get("Write"),
                   io_read_ops=ops.get("Read"), io_write_ops=ops.get("Write"))
    return out


def read_v2(path: str) -> dict:
    """Counters of a v2 cgroup directory (cpu.stat, memory.current, memory.peak, io.stat)."""
    base = Path(path)
    stat = _keyed(base / "cpu.stat")
    out = {"cpu_usage_s": _scaled(stat.get("usage_usec"), 1e6), "cpu_user_s": _scaled(stat.get("user_usec"), 1e6),
           "cpu_system_s": _scaled(stat.get("system_usec"), 1e6), "nr_throttled": stat.get("nr_throttled"),
           "throttled_s": _scaled(stat.get("throttled_usec"), 1e6), "memory_bytes": _int(base / "memory.current")}
    if (base / "memory.peak").exists():
        out["memory_peak_bytes"] = _int(base / "memory.peak")
    if not (base / "io.stat").exists():  # no io controller here: unknown, not zero
        return {**out, **dict.fromkeys(("io_read_bytes", "io_write_bytes", "io_read_ops", "io_write_ops"))}
    io = {"rbytes": 0, "wbytes": 0, "rios": 0, "wios": 0}
    for line in _lines(base / "io.stat"):
        for pair in line.split()[1:]:
            key, _, value = pair.partition("=")
            if key in io:
                io[key] += int(value)
    out.update(io_read_bytes=io["rbytes"], io_write_bytes=io["wbytes"], io_read_ops=io["rios"],
               io_write_ops=io["wios"])
    return out


def read_cgroup(paths: dict[str, str]) -> dict:
    return read_v2(paths[""]) if "" in paths and "cpuacct" not in paths else read_v1(paths)


def reset_peak(paths: dict[str, str]) -> bool:
    """Reset the memory high-water mark so the peak is this trial's (v1, or v2 on kernels that allow it)."""
    target = Path(paths["memory"], "memory.max_usage_in_bytes") if "memory" in paths else \
        Path(paths.get("", ""), "memory.peak")
    try:
        target.write_text("0\n")
        return True
    except OSError:
        return False


def delta(after: dict, before: dict) -> dict:
    """Each counter's change; None where either reading is unknown."""
    return {k: None if after[k] is None or before[k] is None else round(after[k] - before[k], 6)
            for k in COUNTERS if k in after and k in before}


class CgroupCollector(Sampler):
    """Samples the cgroup named by the handle; the summary holds deltas over the trial and memory peaks."""

    name = "cgroup"

    def __init__(self, interval: float = 0.1):
        super().__init__(interval)
        self.paths: dict[str, str] = {}
        self._first: dict | None = None
        self.peak_reset = False

    def attach(self, handle: Handle) -> None:
        if not handle.cgroups:
            return
        paths = dict(handle.cgroups)
        self.peak_reset = reset_peak(paths)
        self._first = read_cgroup(paths)
        self.paths = paths

    def sample(self) -> dict | None:
        if not self.paths:
            return None
        try:
            return read_cgroup(self.paths)
        except (OSError, ValueError):  # the cgroup went away with its container
            return None

    def summary(self) -> dict | None:
        if self._first is None or not self.series:
            return None
        last = self.series[-1]
        return {"samples": len(self.series), "version": 2 if "" in self.paths and "cpuacct" not in self.paths else 1,
                "paths": self.paths, **delta(last, self._first),
                "memory_max_bytes": max((s["memory_bytes"] for s in self.series if s.get("memory_bytes") is not None),
                                        default=None),
                "memory_peak_bytes": last.get("memory_peak_bytes"), "memory_peak_is_trial": self.peak_reset}


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:
        return []


def _int(path: Path) -> int | None:
    """The number a one-number cgroup file holds; None when it is absent or holds none ("max")."""
    lines = _lines(path)
    return int(lines[0]) if lines and lines[0].strip().isdigit() else None


def _scaled(value: int | None, per_unit: float) -> float | None:
    return None if value is None else value / per_unit


def _keyed(path: Path) -> dict[str, int]:
    out = {}
    for line in _lines(path):
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            out[parts[0]] = int(parts[1])
    return out


def _blkio_totals(path: Path) -> dict[str, int]:
    """Read/Write totals over devices of a v1 blkio file (``8:0 Read 4096`` lines; the ``Total`` line skipped);
    empty when the file is absent (unknown)."""
    if not path.exists():
        return {}
    totals = {"Read": 0, "Write": 0}
    for line in _lines(path):
        parts = line.split()
        if len(parts) == 3 and parts[1] in totals:
            totals[parts[1]] += int(parts[2])
    return totals
