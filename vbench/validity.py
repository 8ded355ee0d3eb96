"""What a trial's figure is worth, and which two trials may be compared: every flag and I/O mode with its meaning.

An overhead row reads as "the same work, only the environment differs". That holds only when both sides ran the
same operation, so each trial has an **operation**: for I/O, the engine that issued it, the queue depth it really
had and its end-to-end mode; for the network workloads, the client that ran (iperf3 or sockperf, or the stdlib
fallback: ``workloads/net/tools.py``); for anything else, nothing beyond the workload and its parameters
(which the case already fixes). Two sides whose operations differ get no overhead: the row says "not
comparable: <why>" and no claim counts it. That row is the cross-mode comparison, labelled as one: it keeps both
medians, so "tmpfs against a disk" (a fair question) reads as two figures side by side under the reason they
differ in kind, never as an overhead with an interval that a claim or ``--fail-above`` could act on.

The **end-to-end mode** joins what the workload saw (its own O_DIRECT probe in the guest or container) and what
the environment knows the host does with that I/O (``HostPath``): an O_DIRECT that QEMU's 9p server, a
``cache=writeback`` disk, virtiofsd without ``allow_direct_io`` or tmpfs turns into page-cache I/O on the host is
not direct, whatever the workload's probe says.

The report and the summary take their words from ``FLAGS`` and ``io_mode_meaning``; who sets each flag is named
beside it. The flags a trial gets from the host's view (``page_cache_flag``, ``counters_flag``, ``clock_flag``,
``disturbance_flag``) are computed here, and their prose is written from the same thresholds.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from vbench.model import Execution

DIRECT = "direct"
HOST_CACHED = "O_DIRECT asked, host page cache"  # the guest asked for O_DIRECT; the host cached it anyway
NOT_COMPARABLE = "not comparable"
IN_MEMORY = ", in memory"  # a buffered mode whose files are in memory (tmpfs): its fsyncs reach no device


@dataclass(frozen=True)
class Flag:
    meaning: str
    set_by: str
    effect: str


# A read figure is flagged when the trial's own processes fetched from storage less than this share of the bytes
# the workload read.
PAGE_CACHE_TOLERANCE = 0.9
COUNTER_TOLERANCE = 0.05  # the Engine API's and the cgroup's block I/O bytes of one trial
COUNTER_SLACK_BYTES = 1 << 20
CLOCK_TOLERANCE = 0.05  # the guest's and the host's timing of one run
CLOCK_SLACK_S = 0.05
# A trial is flagged when, on average over it, others took more than this share of one CPU, the hypervisor stole
# more than this share of the host's CPU time, other processes read or dirtied more than this much storage, or
# more than this much network traffic crossed interfaces the trial's own cannot: it then shared the machine.
# An idle host of this project's kind, measured over 5 s windows: under 0.01 of a CPU, under 10 KiB/s of
# storage, no traffic.
OTHERS_LIMIT_CORES = 0.25
STEAL_LIMIT_PCT = 5.0
OTHERS_IO_LIMIT_BYTES_S = 1 << 20
NET_LIMIT_BYTES_S = 1 << 20
# For these kinds "others' CPU" is the host's busy time less the trial's tree and vbench's: everything else,
# kernel threads included. Other kinds' own work runs partly in kernel threads and daemons (the block layer's
# workers, virtiofsd, docker-proxy), so for them it is the user-space processes' outside the trial, its services
# and vbench (vbench.collectors.host).
HOST_WIDE_CPU_KINDS = ("cpu", "mem")
CONCURRENT_RUN = "concurrent-run"

KEPT = "kept in the analysis; the figure is read with this caveat"
FLAGS: dict[str, Flag] = {
    "page-cache-read": Flag(
        f"the trial's own I/O delivered fewer bytes from the device than {PAGE_CACHE_TOLERANCE:.0%} of what the "
        "workload read: part of the read came from the page cache, so the figure measures memory rather than the "
        "disk",
        "the runner, from the trial's own device counters (vbench.validity.page_cache_flag)", KEPT),
    "page-cache-unknown": Flag(
        "the workload read from a file, but no counter of the trial's own device reads was available, so whether "
        "the page cache served it is unknown (not 'no')",
        "the runner (vbench.validity.page_cache_flag)", KEPT),
    "io-counters-disagree": Flag(
        f"the Engine API's block I/O bytes for the container's trial and its cgroup's differ by more than "
        f"{COUNTER_TOLERANCE:.0%} (and {COUNTER_SLACK_BYTES >> 20} MiB): two views of one counter, so the trial's "
        "I/O accounting is suspect",
        "the runner (vbench.validity.counters_flag)", KEPT),
    "clock-disagree": Flag(
        f"the guest's and the host's timing of the run differ by more than {CLOCK_TOLERANCE:.0%} (and "
        f"{CLOCK_SLACK_S * 1000:.0f} ms; guest clocks drift under emulation): a guest-timed figure is suspect",
        "the runner, from the host's and the guest's clocks (vbench.validity.clock_flag)", KEPT),
    "host-disturbed": Flag(
        f"during this trial, on average, other processes took more than {OTHERS_LIMIT_CORES:g} of a CPU (for cpu "
        "and mem trials anything outside the trial and vbench, kernel threads included; for the others, user-space "
        f"processes other than the environment's daemons), the hypervisor stole more than {STEAL_LIMIT_PCT:g}% "
        f"of the host's CPU time, other processes read or dirtied more than {OTHERS_IO_LIMIT_BYTES_S >> 20} MiB/s "
        f"of storage, or more than {NET_LIMIT_BYTES_S >> 20} MiB/s of network traffic crossed interfaces the "
        "trial's own does not use (for network workloads, the non-virtual ones): it shared the machine. Each "
        "trial's reasons (which resource, how much) are in its disturbance figures and the disturbed_by column",
        "the runner, from the psutil collector's disturbance figures (vbench.validity.disturbance_reasons)",
        "kept in the analysis, since dropping it would break its round's pair; the summary counts them"),
    CONCURRENT_RUN: Flag(
        "another vbench run held the host's measuring lock when this run started or resumed, and this one was "
        "given --allow-concurrent: the two measured beside each other, so this trial may carry the other's load "
        "(CPU, disk, writeback, network)",
        "the runner, for every trial of such a session (vbench.hostlock)",
        "kept in the analysis, since dropping it would break its round's pair; the summary counts them"),
    "started-dirty": Flag(
        "the host still had unwritten pages (Dirty and Writeback together above the threshold in "
        "vbench.run.writeback) when this I/O block started, after sync and the wait: its first operations shared "
        "the device with writeback it did not cause",
        "the runner, from /proc/meminfo before the block (vbench.run.writeback)", KEPT),
    "python-fallback": Flag(
        "a pure-Python stand-in ran instead of the real tool or library (fio absent, or numpy absent for "
        "random access)",
        "the workload (io.fio, mem.latency)",
        "its operation differs from the tool's (another engine or another metric), so it is compared only with "
        "trials that fell back alike"),
    "no-numpy": Flag(
        "numpy was absent, so only the stdlib memmove figure was measured, not the four STREAM kernels",
        "the workload (mem.bandwidth)", "the memmove figure stays comparable; the kernels' are missing"),
    "threads-not-pinned": Flag(
        "the BLAS thread pool could not be limited to the requested count (numpy was already loaded), so the "
        "library chose its own",
        "the workload (cpu.matmul)", KEPT),
    "in-process-server": Flag(
        "the network server ran in the client's own interpreter on loopback (no peer was given), so client and "
        "server shared one process and its CPU",
        "the workload (net.*)", KEPT),
    "stdlib-fallback": Flag(
        "the stdlib Python client ran instead of iperf3 or sockperf (the tool is missing on one end, or the "
        "sizes asked are ones sockperf cannot send); its own CPU cost per byte and per call compresses the ratios",
        "the workload (net.tcp_stream, net.tcp_rr, net.udp_rr), naming why in info.tool_fallback",
        "its operation (tool=python) differs from the tool's, so it is compared only with trials that fell back "
        "alike"),
}

IO_MODES = {
    DIRECT: "O_DIRECT end to end: the page cache is bypassed in the environment and on the host, so the device "
            "and its path through the environment are measured",
    HOST_CACHED: "the workload opened its file with O_DIRECT, but the host side (QEMU's 9p server, a "
                 "cache=writeback disk or tmpfs) served it through the host's page cache: memory is measured, not "
                 "only the disk",
    "buffered+fsync": "buffered writes made durable with fsync (O_DIRECT unavailable or not applicable)",
    "buffered+dir-fsync": "buffered file operations, with the directory fsynced to make them durable",
    f"buffered+fsync{IN_MEMORY}": "buffered writes and fsyncs on a filesystem in memory (tmpfs): nothing reaches "
                                  "a device, so the figure is memory's, not comparable with a disk's",
    f"buffered+dir-fsync{IN_MEMORY}": "buffered file operations and directory fsyncs on a filesystem in memory "
                                      "(tmpfs): nothing reaches a device",
}


def flag_meaning(name: str) -> str:
    flag = FLAGS.get(name)
    return f"{flag.meaning} (set by {flag.set_by}; {flag.effect})" if flag else "no description known"


def io_mode_meaning(mode: str) -> str:
    """The meaning of an end-to-end mode ("<effective>; host: <what>") or a bare one."""
    return IO_MODES.get(effective_mode(mode) or "", "the workload's own I/O settings, as named")


@dataclass(frozen=True)
class HostPath:
    """What the host does with an environment's I/O, as the environment knows it (the guest cannot see it)."""

    what: str             # e.g. "virtiofsd cache=auto with allow_direct_io"
    honours_direct: bool  # whether a guest's O_DIRECT reaches the host's storage uncached
    memory: bool = False  # the files live in memory (tmpfs): an fsync there makes nothing durable


MEMORY_FILESYSTEMS = frozenset({"tmpfs", "ramfs"})  # O_DIRECT opens succeed on tmpfs (Linux 6.6+): still memory


def on_filesystem(what: str, fstype: str, passes_direct: bool = True) -> HostPath:
    """The path of I/O that lands in files on a host filesystem of type ``fstype``: direct only if the layers
    above pass O_DIRECT on and the filesystem is not memory."""
    memory = fstype in MEMORY_FILESYSTEMS
    return HostPath(f"{what} on {fstype}{' (memory)' if memory else ''}", passes_direct and not memory, memory)


def end_to_end(guest_mode: str, path: HostPath | None) -> str:
    """The trial's io_mode from both sides: the workload's own mode and, where known, the host's path."""
    if path is None:
        return guest_mode
    if guest_mode == DIRECT and not path.honours_direct:
        effective = HOST_CACHED
    else:  # buffered I/O and its fsyncs on memory are another operation than on a device
        effective = f"{guest_mode}{IN_MEMORY}" if path.memory else guest_mode
    return f"{effective}; host: {path.what}"


def effective_mode(io_mode: str | None) -> str | None:
    """The part of an io_mode that decides comparability (the host's description is the environment's own)."""
    return None if io_mode is None else io_mode.split("; host: ", 1)[0]


def operation(info: Mapping[str, Any] | None, params: Mapping[str, Any] | None) -> str:
    """What one trial really did, as far as comparing it goes: "" for work with nothing to tell apart, else e.g.
    "engine=libaio qd=32 mode=direct" or "tool=iperf3"."""
    info, params = info or {}, params or {}
    parts = []
    if info.get("tool"):
        parts.append(f"tool={info['tool']}")
    if info.get("ioengine"):
        parts.append(f"engine={info['ioengine']}")
    depth = info.get("iodepth_effective", params.get("iodepth") if info.get("ioengine") else None)
    if depth is not None:
        parts.append(f"qd={depth}")
    mode = effective_mode(info.get("io_mode"))
    if mode:
        parts.append(f"mode={mode}")
    return " ".join(parts)


def mismatch(base: set[str], env: set[str]) -> str | None:
    """Why trials with operations ``env`` cannot be compared with the baseline's ``base``, or None when they can.
    Only identical sets compare: a side that ran two ways (a fallback in some rounds) is not comparable either."""
    if base == env or not base or not env:
        return None
    if len(base) == 1 and len(env) == 1:
        b, e = _fields(next(iter(base))), _fields(next(iter(env)))
        names = {"tool": "client", "engine": "engine", "qd": "queue depth", "mode": "mode"}
        diffs = [f"{names[k]} {b.get(k, '-')} vs {e.get(k, '-')}" for k in names if b.get(k) != e.get(k)]
        return f"{NOT_COMPARABLE}: {', '.join(diffs)}"
    ran = {side: " | ".join(sorted(ops)) or "-" for side, ops in (("base", base), ("env", env))}
    return f"{NOT_COMPARABLE}: baseline ran {ran['base']}, this ran {ran['env']}"


_OPERATION = re.compile(r"(?:tool=(?P<tool>\S+) ?)?(?:engine=(?P<engine>\S+) ?)?(?:qd=(?P<qd>\S+) ?)?"
                        r"(?:mode=(?P<mode>.+))?")


def _fields(op: str) -> dict[str, str]:
    """The fields of an ``operation`` string (tool, engine and queue depth have no spaces; the mode is last)."""
    match = _OPERATION.fullmatch(op)
    return {k: v for k, v in match.groupdict().items() if v is not None} if match else {"mode": op}


def page_cache_flag(info: Mapping[str, Any], storage_read_bytes: int | None) -> str | None:
    """'page-cache-read' when a workload read more bytes than its own processes fetched from storage during the
    trial; 'page-cache-unknown' when it read and that figure is unknown."""
    requested = info.get("read_bytes") or 0
    if requested <= 0:
        return None
    if storage_read_bytes is None:
        return "page-cache-unknown"
    if storage_read_bytes < PAGE_CACHE_TOLERANCE * requested:
        return "page-cache-read"
    return None


def counters_flag(collected: Mapping[str, Any]) -> str | None:
    """'io-counters-disagree' when the Engine API's block I/O figures for a container's trial and its cgroup's
    differ by more than COUNTER_TOLERANCE (and COUNTER_SLACK_BYTES): two views of one counter, so one of them is
    not what it seems."""
    cgroup, engine = collected.get("cgroup") or {}, collected.get("engine") or {}
    for key in ("io_read_bytes", "io_write_bytes"):
        a, b = cgroup.get(key), engine.get(key)
        if a is None or b is None:
            continue
        if abs(a - b) > max(COUNTER_TOLERANCE * max(a, b), COUNTER_SLACK_BYTES):
            return "io-counters-disagree"
    return None


def disturbance_reasons(workload: str, disturbance: Mapping[str, Any] | None) -> list[str]:
    """Why a trial counts as having shared the host, one reason per resource over its limit ("disk: ...";
    pure): the CPU others took, steal, others' storage I/O, network traffic not the trial's. An unknown
    figure (None) is no reason."""
    if not disturbance:
        return []
    reasons = []
    host_wide = workload.split(".")[0] in HOST_WIDE_CPU_KINDS
    cores = disturbance.get("others_cores" if host_wide else "others_user_cores")
    if cores is not None and cores > OTHERS_LIMIT_CORES:
        whose = "other processes" if host_wide else "other user-space processes"
        reasons.append(f"cpu: {whose} took {cores:.2f} of a CPU (limit {OTHERS_LIMIT_CORES:g})")
    steal = disturbance.get("steal_pct")
    if steal is not None and steal > STEAL_LIMIT_PCT:
        reasons.append(f"steal: the hypervisor took {steal:.1f}% of the CPU time (limit {STEAL_LIMIT_PCT:g}%)")
    io = disturbance.get("others_io_bytes_s")
    if io is not None and io > OTHERS_IO_LIMIT_BYTES_S:
        reasons.append(f"disk: other processes read or dirtied {io / 2**20:.1f} MiB/s "
                       f"(limit {OTHERS_IO_LIMIT_BYTES_S >> 20} MiB/s)")
    net = disturbance.get("net_bytes_s")
    if net is not None and net > NET_LIMIT_BYTES_S:
        reasons.append(f"network: {net / 2**20:.1f} MiB/s on {disturbance.get('net_interfaces') or '?'} "
                       f"(limit {NET_LIMIT_BYTES_S >> 20} MiB/s)")
    return reasons


def disturbance_flag(workload: str, disturbance: Mapping[str, Any] | None) -> str | None:
    """'host-disturbed' when the trial shared the host by any of ``disturbance_reasons``."""
    return "host-disturbed" if disturbance_reasons(workload, disturbance) else None


def disturbance_resources(reasons: list[str] | None) -> str:
    """The resources named by a trial's reasons, comma-joined ("cpu,disk"): the tidy table's column."""
    return ",".join(reason.split(":", 1)[0] for reason in reasons or [])


def resource_counts(disturbed_by: Iterable[str]) -> str:
    """How many trials each resource disturbed, from their disturbed_by values ("disk 9, cpu 3"; pure)."""
    counts = Counter(r for value in disturbed_by if isinstance(value, str) for r in value.split(",") if r)
    return ", ".join(f"{resource} {n}" for resource, n in counts.most_common())


def clock_flag(execution: Execution) -> str | None:
    """'clock-disagree' when the guest's and the host's measure of one run differ by more than CLOCK_TOLERANCE
    (and CLOCK_SLACK_S): guest clocks drift under emulation, so a guest-timed figure is then suspect."""
    return clock_disagree(execution.far_wall_s, execution.host_wall_s)


def clock_disagree(guest: float | None, host: float) -> str | None:
    """``clock_flag`` on two figures: the guest's and the host's seconds for one run."""
    if guest is None or host <= 0:
        return None
    if abs(host - guest) > max(CLOCK_TOLERANCE * host, CLOCK_SLACK_S):
        return "clock-disagree"
    return None


def drift_flag(drift: float | None) -> str | None:
    """'clock-disagree' for a sliced block whose guest clock strayed from the host's by more than CLOCK_TOLERANCE
    of the host's time (vbench.slices.clock_drift)."""
    return "clock-disagree" if drift is not None and abs(drift) > CLOCK_TOLERANCE else None
