"""The QEMU machine: its command line, the guest agent's channel, booting and stopping (used by envs.qemu).

The guest boots the guest image's kernel with the image's root disk read-only, a per-run payload disk (the
workloads and the agent, read-only) and the storage under test; ``/usr/local/sbin/vbench-init`` on the root disk
runs the payload's ``guest-init.sh``, which mounts the storage and execs the agent.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from vbench.errors import VBenchError

QEMU = "qemu-system-x86_64"
VIRTIOFSD = "/usr/lib/qemu/virtiofsd"
GUEST_INIT_SH = """#!/bin/sh
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
for m in virtio_console virtiofs 9pnet_virtio 9p; do modprobe "$m" 2>/dev/null; done
storage=$(sed -n 's/.*vbench.storage=\\([a-z0-9]*\\).*/\\1/p' /proc/cmdline)
case "$storage" in
block)
    for d in /sys/block/vd*; do
        [ "$(cat "$d/serial" 2>/dev/null)" = vbench-scratch ] && dev=/dev/${d##*/}
    done
    mkfs.ext4 -q -F -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 "$dev" && mount -o noatime "$dev" /scratch ;;
virtiofs) mount -t virtiofs scratch /scratch ;;
9p) mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 scratch /scratch ;;
none) true ;;
esac || echo "vbench guest-init: mounting the $storage scratch failed" >&2
address=$(sed -n 's/.*vbench.ip=\\([0-9.]*\\).*/\\1/p' /proc/cmdline)
if [ -n "$address" ]; then
    modprobe virtio_net 2>/dev/null
    python3 /opt/vbench/workloads/net/_ifup.py auto "$address" 255.255.255.0 &&
        python3 /opt/vbench/workloads/net/server.py --port 5201 --bind 0.0.0.0 >/dev/null 2>&1 &
fi
exec python3 /opt/vbench/workloads/agent.py
"""


@dataclass(frozen=True)
class VMConfig:
    """Everything the QEMU command line depends on."""

    accel: str
    kernel: str
    initrd: str
    root_disk: str
    payload_disk: str
    agent_socket: str
    console_log: str
    storage: str = "block"  # block | virtiofs | 9p | none
    scratch: str | None = None  # image file (block) or host directory (9p)
    scratch_format: str = "raw"
    virtiofs_socket: str | None = None
    direct_io: bool = True
    vcpus: int = 2
    memory_mb: int = 2048
    hostfwd_port: int | None = None  # QEMU user-mode network, the guest's port 5201 forwarded from this one
    netns: str | None = None  # tap network: QEMU runs in this namespace, its tap device on a bridge there
    tap: str | None = None
    guest_address: str | None = None  # the guest's static IPv4 address (/24) when it has a network
    vhost: bool = False  # vhost-net for the tap (KVM only)

    @property
    def cpu_model(self) -> str:
        return "host" if self.accel == "kvm" else "max"

    @property
    def disk_options(self) -> str:
        return "cache=none,aio=native" if self.direct_io else "cache=writeback,aio=threads"


def qemu_argv(c: VMConfig) -> list[str]:
    """The QEMU command line for ``c`` (pure)."""
    prefix = ["ip", "netns", "exec", c.netns] if c.netns else []
    argv = [*prefix, QEMU, "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot", "-machine", "q35",
            "-accel", "kvm" if c.accel == "kvm" else "tcg,thread=multi", "-cpu", c.cpu_model,
            "-smp", str(c.vcpus), "-m", str(c.memory_mb), *_nic(c),
            "-kernel", c.kernel, "-initrd", c.initrd,
            "-append", f"root=/dev/vda ro console=ttyS0 panic=-1 quiet init=/usr/local/sbin/vbench-init "
                       f"vbench.storage={c.storage}" + (f" vbench.ip={c.guest_address}" if c.guest_address else ""),
            "-serial", f"file:{c.console_log}",
            *_disk("root", c.root_disk, "raw", "readonly=on"),
            *_disk("payload", c.payload_disk, "raw", "readonly=on"),
            "-device", "virtio-serial-pci",
            "-chardev", f"socket,id=agent,path={c.agent_socket},server=on,wait=off",
            "-device", "virtserialport,chardev=agent,name=vbench.agent"]
    if c.storage == "block":
        argv += _disk("scratch", c.scratch, c.scratch_format, c.disk_options)
    elif c.storage == "virtiofs":
        argv += ["-object", f"memory-backend-memfd,id=mem,size={c.memory_mb}M,share=on", "-numa", "node,memdev=mem",
                 "-chardev", f"socket,id=vfs,path={c.virtiofs_socket}",
                 "-device", "vhost-user-fs-pci,chardev=vfs,tag=scratch"]
    elif c.storage == "9p":
        argv += ["-fsdev", f"local,id=fs9p,path={c.scratch},security_model=none",
                 "-device", "virtio-9p-pci,fsdev=fs9p,mount_tag=scratch"]
    return argv


def _nic(c: VMConfig) -> list[str]:
    if c.tap:
        vhost = ",vhost=on" if c.vhost else ""
        return ["-netdev", f"tap,id=net0,ifname={c.tap},script=no,downscript=no{vhost}",
                "-device", "virtio-net-pci,netdev=net0"]
    if c.hostfwd_port:
        forward = ",".join(f"hostfwd={proto}:127.0.0.1:{c.hostfwd_port}-:5201" for proto in ("tcp", "udp"))
        return ["-nic", f"user,model=virtio-net-pci,{forward}"]
    return ["-nic", "none"]


def _disk(name: str, path: str | None, fmt: str, options: str) -> list[str]:
    return ["-drive", f"file={path},format={fmt},if=none,id={name},{options}",
            "-device", f"virtio-blk-pci,drive={name},serial=vbench-{name}"]


class AgentChannel:
    """Line-delimited JSON over the agent's virtio-serial port (a QEMU unix socket on the host)."""

    def __init__(self, path: str):
        self.path = path
        self.sock: socket.socket | None = None
        self._buffer = b""

    def connect(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            try:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.connect(self.path)
                self.sock = sock
                return
            except OSError:
                sock.close()
                time.sleep(0.05)
        raise TimeoutError(f"QEMU did not open {self.path}")

    def send(self, message: dict) -> None:
        self.sock.sendall(json.dumps(message).encode() + b"\n")

    def receive(self, deadline: float) -> dict | None:
        """The next message, or None when ``deadline`` passes first."""
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self.sock.settimeout(min(remaining, 0.5))
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            if not chunk:
                raise ConnectionError("the guest agent's port closed")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def close(self) -> None:
        if self.sock:
            self.sock.close()
            self.sock = None


@dataclass
class Guest:
    """A booted VM: its QEMU process, agent channel and how long the boot took."""

    proc: subprocess.Popen
    channel: AgentChannel
    boot_s: float
    pong: dict = field(default_factory=dict)


def boot(config: VMConfig, timeout: float, on_spawn: Callable[[int], None] | None = None) -> Guest:
    """Start QEMU and wait until the agent answers a ping; kill it and raise on failure.

    ``on_spawn`` gets QEMU's PID as soon as it exists (the reaper's ledger lists it)."""
    start = time.monotonic()
    proc = subprocess.Popen(qemu_argv(config), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, start_new_session=True)
    if on_spawn:
        on_spawn(proc.pid)
    deadline = start + timeout
    channel = AgentChannel(config.agent_socket)
    try:
        while not os.path.exists(config.agent_socket):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise VBenchError(f"QEMU exited at start: {_stderr(proc)}")
            time.sleep(0.02)
        channel.connect(deadline)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise VBenchError(f"the guest stopped during boot: {_stderr(proc)} {_tail(config.console_log)}")
            channel.send({"op": "ping"})
            reply = channel.receive(min(deadline, time.monotonic() + 1.0))
            if reply and reply.get("op") == "pong":
                return Guest(proc, channel, time.monotonic() - start, reply)
        raise VBenchError(f"the guest agent did not answer within {timeout:.0f}s ({config.accel}); "
                          f"console: {_tail(config.console_log)}")
    except BaseException:
        channel.close()
        stop_process(proc)
        raise


def stop_process(proc: subprocess.Popen, grace: float = 5.0) -> None:
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(grace)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()


def _stderr(proc: subprocess.Popen) -> str:
    if proc.poll() is None or proc.stderr is None:
        return ""
    return " ".join(proc.stderr.read().decode(errors="replace").split())[-300:]


def _tail(path: str, chars: int = 400) -> str:
    try:
        return " | ".join(Path(path).read_text(errors="replace")[-chars:].splitlines())
    except OSError:
        return ""
