"""A private network namespace with a Linux bridge and a tap device on it, for the ``vm:tap`` variant.

QEMU opens the tap inside the namespace and the network client runs there too, so the path measured is the
classic host-to-VM one (host stack -> bridge -> tap -> virtio-net -> guest) while the host's own interfaces,
routes and firewall are never touched: deleting the namespace removes the bridge and the tap with it.

Needs root, iproute2's ``ip`` and /dev/net/tun.
"""
from __future__ import annotations

import os
import secrets
import shutil
import subprocess

from vbench.envs.base import Availability
from vbench.errors import VBenchError

BRIDGE, TAP = "vbr0", "vtap0"
HOST_ADDRESS, GUEST_ADDRESS, PREFIX = "10.77.0.1", "10.77.0.2", 24
NAME_PREFIX = "vbench-"


def tap_availability() -> Availability:
    if os.geteuid() != 0:
        return Availability(False, "a tap device on a bridge needs root (run vbench as root, or use vm:usernet)")
    if not shutil.which("ip"):
        return Availability(False, "iproute2's ip command is missing (apt-get install iproute2)")
    if not os.path.exists("/dev/net/tun"):
        return Availability(False, "/dev/net/tun is missing (the tun module is not loaded)")
    return Availability(True, f"root, ip and /dev/net/tun: bridge {BRIDGE} + tap {TAP} in a private namespace")


def new_name() -> str:
    return f"{NAME_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"


def exec_prefix(name: str) -> list[str]:
    """The argv prefix running a command inside namespace ``name`` (``ip netns exec`` execs it: same PID)."""
    return ["ip", "netns", "exec", name]


def create_bridge_netns(name: str) -> None:
    """Namespace ``name`` with lo up and tap TAP enslaved to bridge BRIDGE at HOST_ADDRESS/PREFIX; on failure
    nothing is left and VBenchError says which step failed."""
    steps = [["ip", "netns", "add", name],
             ["ip", "-n", name, "link", "set", "lo", "up"],
             ["ip", "-n", name, "link", "add", BRIDGE, "type", "bridge"],
             ["ip", "-n", name, "tuntap", "add", "dev", TAP, "mode", "tap"],
             ["ip", "-n", name, "link", "set", TAP, "master", BRIDGE],
             ["ip", "-n", name, "addr", "add", f"{HOST_ADDRESS}/{PREFIX}", "dev", BRIDGE],
             ["ip", "-n", name, "link", "set", BRIDGE, "up"],
             ["ip", "-n", name, "link", "set", TAP, "up"]]
    for step in steps:
        done = subprocess.run(step, capture_output=True, text=True, timeout=30)
        if done.returncode != 0:
            delete_netns(name)
            raise VBenchError(f"could not set up the tap network ({' '.join(step)}): "
                              f"{done.stderr.strip() or done.returncode}")


def delete_netns(name: str) -> bool:
    """Remove namespace ``name`` (its bridge and tap go with it once no process holds them); whether it existed."""
    if not os.path.exists(f"/run/netns/{name}"):
        return False
    subprocess.run(["ip", "netns", "del", name], capture_output=True, timeout=30)
    return True
