"""How the reports show a fingerprint (the host's, an environment's, its lifecycle, the plan): the one table of
readable labels for its keys, and its values as text, with sizes, rates and durations written by ``vbench.fmt``."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from vbench import fmt

# key -> label, in the order the report lists them; a key not here shows in words ("rss_max_bytes": "Rss max bytes")
LABELS = {
    # the host (vbench.fingerprint)
    "hostname": "Host name", "cpu_model": "CPU model", "cpu_logical": "CPU (logical)",
    "cpu_physical": "CPU (physical)", "memory_bytes": "Memory", "os": "OS", "kernel": "Kernel",
    "hypervisor": "Under a hypervisor", "cpu_governor": "CPU governor", "cgroup_version": "cgroup version",
    "steal_s_at_start": "CPU steal at start", "scratch_dir": "Scratch directory", "scratch_fs": "Scratch filesystem",
    "python": "Python", "fio": "fio", "vbench": "vbench",
    # an environment (vbench.envs)
    "kind": "Kind", "variant": "Variant", "python_version": "Python version", "scratch": "Scratch directory",
    "docker_version": "Docker version", "runtime": "Runtime", "storage_driver": "Storage driver",
    "backing_filesystem": "Backing filesystem", "cgroup_driver": "cgroup driver", "image": "Image",
    "image_id": "Image ID", "container_id": "Container ID", "cpus": "CPUs", "memory": "Memory",
    "blkio_counting_rule": "blkio counting rule", "blkio_accounting": "blkio accounting", "device": "Device",
    "rate_bps": "Rate", "accelerator": "Accelerator", "accelerator_reason": "Accelerator reason",
    "emulation": "Emulation", "vcpus": "vCPUs", "memory_mb": "Memory", "guest_kernel": "Guest kernel",
    "network": "Network", "tool_ports": "Tool ports", "storage": "Storage", "disk_format": "Disk format",
    "disk_options": "Disk options", "boot_s": "Boot", "qemu": "QEMU",
    # an environment's lifecycle (vbench.envs.base)
    "provision_s": "Provisioning", "provision_start": "Provisioning started", "teardown_s": "Teardown",
    "teardown_start": "Teardown started", "notes": "Notes",
    # the plan (vbench.suite.PlanSettings)
    "warmup_rounds": "Warmup rounds", "min_rounds": "Rounds at least", "max_rounds": "Rounds at most",
    "ci_target_pct": "CI target (half-width)", "time_budget_s": "Time budget", "timeout_s": "Trial timeout",
    "seed": "Seed",
}
# the unit of a value by its key's ending (a key in KEY_UNITS by its name)
SUFFIX_UNITS = (("_bytes", "B"), ("_bps", "B/s"), ("_mb", "MiB"), ("_s", "s"))
KEY_UNITS = {"steal_s_at_start": "s"}


def label(key: str) -> str:
    """The label of a fingerprint's key: from LABELS, else the key in words with a capital."""
    if key in LABELS:
        return LABELS[key]
    words = key.replace("_", " ").strip()
    return words[:1].upper() + words[1:]


def definition_rows(mapping: Any) -> list[tuple[str, str]]:
    """(label, readable value) pairs of a fingerprint: the keys LABELS names in its order, then the rest by key."""
    if not isinstance(mapping, dict):
        return []
    order = {key: i for i, key in enumerate(LABELS)}
    keys = sorted(mapping, key=lambda k: (order.get(str(k), len(order)), str(k)))
    return [(label(str(key)), readable(str(key), mapping[key])) for key in keys]


def unit_of(key: str) -> str | None:
    """The unit of the value of ``key`` (``memory_bytes``: B), or None for a value without one."""
    if key in KEY_UNITS:
        return KEY_UNITS[key]
    return next((unit for suffix, unit in SUFFIX_UNITS if key.endswith(suffix)), None)


def readable(key: str, value: Any) -> str:
    """A fingerprint's value as text: sizes, rates and durations with their units (23.5 GiB, 282 ms), epoch times
    as UTC, percentages with their sign, yes or no, nested values flattened with their labels."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return "; ".join(f"{label(str(k))}: {readable(str(k), v)}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(readable(key, v) for v in value) or "-"
    if not fmt.is_number(value):
        return str(value)
    if key.endswith("_start") and value > 1e9:
        return datetime.fromtimestamp(value, timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"
    if key.endswith("_pct"):
        return f"{value:g}%"
    unit = unit_of(key)
    return str(value) if unit is None else fmt.quantity(value, unit)
