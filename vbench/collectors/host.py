"""What the rest of the host did during a trial: other processes' CPU and storage I/O, and network traffic.

Two readings of every process (/proc/<pid>/stat and /proc/<pid>/io) and of every interface's counters, one
before the trial and one after (``HostActivity``); the figures are the difference, less what is the trial's own:

- **Processes** outside the trial are every user-space process except the trial's (its process trees: the
  workers of every side of a block), vbench and its descendants (the native worker, QEMU, virtiofsd), and the
  daemons that carry an environment's work (``SERVICES``: dockerd and its shims, docker-proxy, virtiofsd).
  Kernel threads are left out: the block layer's and the filesystems' workers do the trial's own I/O as much as
  anyone's, and cannot be told apart. A process's I/O is what it read from storage and what it dirtied for it
  (/proc/<pid>/io's read_bytes and write_bytes, its reaped children's included); its CPU, its own and its
  reaped children's. A process that started and ended within the trial is seen only through its parent, and a
  child that ended within it counts only what it did after the first reading.
- **Network** traffic is every interface's bytes, sent and received. A network workload's own traffic crosses
  the loopback and the virtual interfaces (docker's bridges and veths, taps), so for those workloads only the
  interfaces that are not virtual count (``counted_interfaces``): others' traffic on the loopback is then not
  seen. No other workload sends anything (the workers' channels are Unix sockets), so for them every
  interface counts.

Reading the processes takes some milliseconds, outside the trial's timing. ``vbench.validity.disturbance_reasons``
turns the figures into the ``host-disturbed`` flag.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Iterable, Mapping

import psutil

# Daemons that do an environment's work outside the trial's tree: their CPU and I/O is the trial's own (a
# container's start-up is dockerd's and containerd's work). Another user's containers' daemons are these too.
SERVICES = frozenset({"dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2", "runc",
                      "docker-proxy", "docker-init", "virtiofsd"})
KTHREADD = 2  # the kernel threads' parent


@dataclass(frozen=True)
class ProcessReading:
    """One process's counters at one moment."""

    created: float  # psutil's create_time: with the PID, the process's identity
    cpu_s: float  # user + system, its reaped children's included
    io_bytes: int | None  # read_bytes + write_bytes; None where the kernel does not say
    kernel: bool
    service: bool
    ppid: int = 0


def read_processes() -> dict[int, ProcessReading]:
    """Every process's counters now, from /proc."""
    out: dict[int, ProcessReading] = {}
    for proc in psutil.process_iter():
        try:
            with proc.oneshot():
                ppid, cpu = proc.ppid(), proc.cpu_times()
                try:
                    io = proc.io_counters()
                    io_bytes: int | None = io.read_bytes + io.write_bytes
                except (psutil.AccessDenied, AttributeError):
                    io_bytes = None
                out[proc.pid] = ProcessReading(
                    proc.create_time(), cpu.user + cpu.system + cpu.children_user + cpu.children_system, io_bytes,
                    kernel=proc.pid == KTHREADD or ppid == KTHREADD, service=proc.name() in SERVICES,
                    ppid=ppid)
        except psutil.Error:
            continue  # it ended while being read
    return out


def descendants_of(root: int, readings: Mapping[int, ProcessReading]) -> set[int]:
    """``root`` and every process below it among ``readings`` (pure)."""
    children: dict[int, list[int]] = {}
    for pid, reading in readings.items():
        children.setdefault(reading.ppid, []).append(pid)
    found, queue = set(), [root]
    while queue:
        pid = queue.pop()
        if pid not in found:
            found.add(pid)
            queue += children.get(pid, [])
    return found


def others(before: Mapping[int, ProcessReading], after: Mapping[int, ProcessReading],
           own: Iterable[int]) -> dict[str, float | int]:
    """The CPU seconds and storage bytes of the processes outside ``own`` between two readings (pure): user
    space only, services left out. A process present in both counts its change; one that started in between
    counts all it has. A process's counters take in its reaped children's, so one that ended in between is
    counted through its parent, less what it had at the first reading (a long-lived child reaped in the window
    would otherwise bring its whole life into it). A process whose I/O counters the kernel will not show vbench
    (in a sandbox, its init: measured here) is counted in ``others_io_hidden`` and its bytes in nothing, so the
    bytes are then a lower bound."""
    own = set(own)
    before_reaped: dict[int, tuple[float, int]] = {}  # parent -> what its children that ended had before
    for pid, ended in before.items():
        still = after.get(pid)
        if still is None or still.created != ended.created:
            cpu, io = before_reaped.get(ended.ppid, (0.0, 0))
            before_reaped[ended.ppid] = (cpu + ended.cpu_s, io + (ended.io_bytes or 0))
    cpu, io, hidden = 0.0, 0, 0
    for pid, now in after.items():
        if pid in own or now.kernel or now.service:
            continue
        then = before.get(pid)
        if then is not None and then.created != now.created:
            then = None  # the PID was reused: a new process
        reaped_cpu, reaped_io = before_reaped.get(pid, (0.0, 0)) if then is not None else (0.0, 0)
        cpu += max(0.0, now.cpu_s - (then.cpu_s if then else 0.0) - reaped_cpu)
        if now.io_bytes is None or (then is not None and then.io_bytes is None):
            hidden += 1
        else:
            io += max(0, now.io_bytes - (then.io_bytes if then and then.io_bytes is not None else 0) - reaped_io)
    return {"others_user_cpu_s": round(cpu, 4), "others_io_bytes": io, "others_io_hidden": hidden}


def virtual_interface(name: str, sys_class_net: str = "/sys/class/net") -> bool:
    """Whether an interface is a virtual one (the loopback, a bridge, a veth, a tap): it has no device."""
    return not os.path.exists(f"{sys_class_net}/{name}/device")


def counted_interfaces(names: Iterable[str], workload: str, is_virtual=virtual_interface) -> list[str]:
    """The interfaces whose traffic cannot be the trial's own: for a network workload those that are not
    virtual, for any other every one (pure, given ``is_virtual``)."""
    network = workload.split(".")[0] == "net"
    return sorted(name for name in names if not (network and is_virtual(name)))


def traffic(before: Mapping[str, tuple[int, int]], after: Mapping[str, tuple[int, int]],
            interfaces: Iterable[str]) -> int:
    """Bytes sent and received on ``interfaces`` between two readings of (sent, received) (pure); an interface
    that came or went in between counts nothing."""
    total = 0
    for name in interfaces:
        if name in before and name in after:
            total += max(0, sum(after[name]) - sum(before[name]))
    return total


def read_interfaces() -> dict[str, tuple[int, int]]:
    return {name: (c.bytes_sent, c.bytes_recv) for name, c in psutil.net_io_counters(pernic=True).items()}


class HostActivity:
    """``start()`` before the trial, ``stop(own, workload)`` after it: what the rest of the host did. ``root`` is
    vbench's process: it and its descendants are the trial's side of the host, not others."""

    def __init__(self, root: int | None = None):
        self.root = os.getpid() if root is None else root

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._processes = read_processes()
        self._interfaces = read_interfaces()

    def stop(self, own: Iterable[int], workload: str) -> dict[str, float | int | str | None]:
        wall = time.monotonic() - self._t0
        processes, interfaces = read_processes(), read_interfaces()
        excluded = set(own) | descendants_of(self.root, processes) | descendants_of(self.root, self._processes)
        figures = others(self._processes, processes, excluded)
        counted = counted_interfaces(set(self._interfaces) & set(interfaces), workload)
        net = traffic(self._interfaces, interfaces, counted)
        return {**figures,
                "others_user_cores": round(figures["others_user_cpu_s"] / wall, 4) if wall > 0 else None,
                "others_io_bytes_s": round(figures["others_io_bytes"] / wall) if wall > 0 else None,
                "net_bytes": net, "net_bytes_s": round(net / wall) if wall > 0 else None,
                "net_interfaces": ",".join(counted)}
