"""The host fingerprint recorded in every run: what machine, kernel, filesystem and tools produced the numbers."""
from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
from pathlib import Path

import psutil

from vbench import __version__
from vbench.model import HostFingerprint


def host_fingerprint(scratch_dir: str, proc_root: str = "/proc", sys_root: str = "/sys") -> HostFingerprint:
    return HostFingerprint(
        hostname=platform.node(), cpu_model=cpu_model(f"{proc_root}/cpuinfo"),
        cpu_logical=psutil.cpu_count(logical=True), cpu_physical=psutil.cpu_count(logical=False),
        memory_bytes=psutil.virtual_memory().total, kernel=platform.release(), os=os_release(),
        python=platform.python_version(), vbench=__version__, hypervisor=hypervisor(f"{proc_root}/cpuinfo"),
        cpu_governor=read_first(f"{sys_root}/devices/system/cpu/cpu0/cpufreq/scaling_governor") or "n/a",
        cgroup_version=cgroup_version(f"{sys_root}/fs/cgroup"), scratch_dir=scratch_dir,
        scratch_fs=filesystem_of(scratch_dir), fio=tool_version(["fio", "--version"]),
        steal_s_at_start=round(getattr(psutil.cpu_times(), "steal", 0.0), 2))


def cpu_model(cpuinfo: str) -> str:
    text = read_first(cpuinfo, whole=True) or ""
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    return match.group(1).strip() if match else platform.processor() or "unknown"


def hypervisor(cpuinfo: str) -> bool:
    """Whether this host is itself a virtual machine (the 'hypervisor' CPU flag)."""
    return hypervisor_flag(read_first(cpuinfo, whole=True) or "")


def hypervisor_flag(text: str) -> bool:
    """Whether /proc/cpuinfo's ``text`` has the 'hypervisor' CPU flag (pure)."""
    return bool(re.search(r"^flags\s*:.*\bhypervisor\b", text, re.M))


def cgroup_version(cgroup_root: str) -> int | None:
    root = Path(cgroup_root)
    if (root / "cgroup.controllers").exists():
        return 2
    if root.is_dir() and any(root.iterdir()):
        return 1
    return None


def filesystem_of(path: str) -> str:
    """The filesystem type of the mount holding ``path`` (longest matching mount point)."""
    path = os.path.realpath(path if os.path.exists(path) else os.path.dirname(path) or "/")
    best, fstype = "", "unknown"
    for part in psutil.disk_partitions(all=True):
        mount = part.mountpoint
        if (path == mount or path.startswith(mount.rstrip("/") + "/")) and len(mount) > len(best):
            best, fstype = mount, part.fstype
    return fstype


def os_release() -> str:
    text = read_first("/etc/os-release", whole=True) or ""
    match = re.search(r'^PRETTY_NAME="?([^"\n]+)"?', text, re.M)
    return match.group(1) if match else platform.platform()


def tool_version(argv: list[str]) -> str | None:
    """The first line a tool prints for its version, or None when it is absent."""
    if not shutil.which(argv[0]):
        return None
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (out.stdout or out.stderr).strip().splitlines()
    return lines[0] if lines else None


def read_first(path: str, whole: bool = False) -> str | None:
    try:
        text = Path(path).read_text()
    except OSError:
        return None
    return text if whole else text.strip()
