"""The QEMU machine: its command line, the guest agent's channel, booting and stopping (used by envs.qemu).

The guest boots the guest image's kernel with the image's root disk read-only, a per-run payload disk (the
workloads and the agent, read-only) and the storage under test; ``/usr/local/sbin/vbench-init`` on the root disk
runs the payload's ``guest-init.sh``, which mounts the storage and execs the agent.
"""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from vbench.envs.base import TOOL_PORTS, tool_servers_sh
from vbench.errors import VBenchError
from vbench.model import GUEST_ROOT, SERVER_PORT

QEMU = "qemu-system-x86_64"
VIRTIOFSD = "/usr/lib/qemu/virtiofsd"  # Debian 12's, from qemu-system-common


def virtiofsd() -> str:
    """The virtiofsd to start: $VBENCH_VIRTIOFSD (another build, or a stand-in in tests), else Debian's."""
    return os.environ.get("VBENCH_VIRTIOFSD") or VIRTIOFSD
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
    # in the background, as before: the agent starts at once; the tools' servers start before vbench's
    (python3 @ROOT@/workloads/net/_ifup.py auto "$address" 255.255.255.0 || exit 1
     @TOOL_SERVERS@
     exec python3 @ROOT@/workloads/net/server.py --port @PORT@ --bind 0.0.0.0 >/dev/null 2>&1) &
fi
exec python3 @ROOT@/workloads/agent.py
""".replace("@TOOL_SERVERS@", tool_servers_sh("0.0.0.0", TOOL_PORTS)).replace("@ROOT@", GUEST_ROOT) \
    .replace("@PORT@", str(SERVER_PORT))


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
    tool_hostfwd: tuple[tuple[int, int], ...] = ()  # (host port, guest port) of the network tools' servers
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
    # debug-threads names the vCPU threads ("CPU 0/TCG"), so a sliced trial can pin the one its worker runs on
    argv = [*prefix, QEMU, "-name", "vbench,debug-threads=on", "-nodefaults", "-no-user-config", "-display",
            "none", "-no-reboot", "-machine", "q35",
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
        pairs = ((c.hostfwd_port, SERVER_PORT), *c.tool_hostfwd)
        forward = ",".join(f"hostfwd={proto}:127.0.0.1:{host}-:{guest}" for host, guest in pairs
                           for proto in ("tcp", "udp"))
        return ["-nic", f"user,model=virtio-net-pci,{forward}"]
    return ["-nic", "none"]


def _disk(name: str, path: str | None, fmt: str, options: str) -> list[str]:
    return ["-drive", f"file={path},format={fmt},if=none,id={name},{options}",
            "-device", f"virtio-blk-pci,drive={name},serial=vbench-{name}"]


class ChannelError(VBenchError):
    """The guest agent's channel failed: the socket was refused, reset or closed, or the guest sent garbage."""


class BootFailed(VBenchError):
    """A guest that did not reach its agent; the message is QEMU's own words where it left any."""


MAX_MESSAGE = 64 << 20  # a line longer than this is not the agent speaking


class AgentChannel:
    """Line-delimited JSON over the agent's virtio-serial port (a QEMU unix socket on the host).

    Every failure of the socket or of the data on it is a ``ChannelError``: a caller never sees an OSError."""

    def __init__(self, path: str):
        self.path = path
        self.sock: socket.socket | None = None
        self._buffer = b""

    def connect(self) -> None:
        """One attempt to connect to QEMU's end of the port."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
        except OSError as exc:
            sock.close()
            raise ChannelError(f"cannot connect to {self.path}: {exc.strerror or exc}") from None
        self.sock = sock

    def send(self, message: dict) -> None:
        if self.sock is None:
            raise ChannelError("the guest agent's channel is not connected")
        try:
            self.sock.sendall(json.dumps(message).encode() + b"\n")
        except OSError as exc:
            raise ChannelError(f"sending to the guest agent failed: {exc.strerror or exc}") from None

    def receive(self, deadline: float) -> dict | None:
        """The next message, or None when ``deadline`` passes first."""
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            self._buffer += self._read(min(remaining, 0.5))
            if len(self._buffer) > MAX_MESSAGE:
                raise ChannelError(f"the guest agent sent {len(self._buffer)} bytes without a line end")
        line, self._buffer = self._buffer.split(b"\n", 1)
        return parse_message(line)

    def _read(self, timeout: float) -> bytes:
        if self.sock is None:
            raise ChannelError("the guest agent's channel is not connected")
        try:
            self.sock.settimeout(timeout)
            chunk = self.sock.recv(1 << 16)
        except socket.timeout:
            return b""
        except OSError as exc:
            raise ChannelError(f"the guest agent's channel failed: {exc.strerror or exc}") from None
        if not chunk:
            raise ChannelError("the guest agent's port closed")
        return chunk

    def close(self) -> None:
        if self.sock:
            self.sock.close()
            self.sock = None


def parse_message(line: bytes) -> dict:
    """One line from the agent as a JSON object, or ChannelError saying what came instead (pure)."""
    try:
        message = json.loads(line)
    except ValueError:
        raise ChannelError(f"the guest agent sent a line that is not JSON: {line[:80]!r}") from None
    if not isinstance(message, dict):
        raise ChannelError(f"the guest agent sent JSON that is not an object: {line[:80]!r}")
    return message


@dataclass
class Guest:
    """A booted VM: its QEMU process, agent channel and how long the boot took."""

    proc: subprocess.Popen
    channel: AgentChannel
    boot_s: float
    pong: dict = field(default_factory=dict)


def stderr_log(config: VMConfig) -> str:
    """Where QEMU's stderr goes: a file beside the console log (a pipe nobody reads could fill and block it)."""
    return str(Path(config.console_log).with_suffix(".qemu-stderr"))


def boot(config: VMConfig, timeout: float, on_spawn: Callable[[int], None] | None = None) -> Guest:
    """Start QEMU and wait until the agent answers a ping; on any failure QEMU is stopped and ``BootFailed``
    says why, in QEMU's own words when it left any.

    ``on_spawn`` gets QEMU's PID as soon as it exists (the reaper's ledger lists it)."""
    start = time.monotonic()
    try:
        with open(stderr_log(config), "wb") as err:
            proc = subprocess.Popen(qemu_argv(config), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err, start_new_session=True)
    except OSError as exc:
        raise BootFailed(f"cannot start {QEMU}: {exc.strerror or exc}") from None
    if on_spawn:
        on_spawn(proc.pid)
    channel = AgentChannel(config.agent_socket)
    try:
        pong = _await_agent(proc, config, channel, start + timeout)
        return Guest(proc, channel, time.monotonic() - start, pong)
    except BaseException:
        channel.close()
        stop_process(proc)
        raise


def _await_agent(proc: subprocess.Popen, config: VMConfig, channel: AgentChannel, deadline: float) -> dict:
    """The agent's pong, once QEMU has opened its socket and the guest has booted to the agent."""
    try:
        while channel.sock is None:
            _check_running(proc, config, "before its agent port opened")
            if time.monotonic() > deadline:
                raise BootFailed(f"QEMU did not open the agent port {config.agent_socket} in time ({config.accel})")
            try:
                channel.connect()
            except ChannelError:
                time.sleep(0.02)
        while time.monotonic() < deadline:
            _check_running(proc, config, "during boot")
            channel.send({"op": "ping"})
            reply = channel.receive(min(deadline, time.monotonic() + 1.0))
            if reply and reply.get("op") == "pong":
                return reply
    except ChannelError as exc:
        # A port that resets or closes is most often QEMU dying: give it a moment, so that its words are the reason.
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(2.0)
        _check_running(proc, config, "during boot")
        raise BootFailed(f"{exc} during boot ({config.accel}){_console_said(config.console_log)}") from None
    raise BootFailed(f"the guest agent did not answer in time ({config.accel}){_console_said(config.console_log)}")


def _check_running(proc: subprocess.Popen, config: VMConfig, when: str) -> None:
    if proc.poll() is not None:
        raise BootFailed(exit_description(proc.returncode, stderr_log(config), when)
                         + _console_suffix(config.console_log))


def exit_description(returncode: int, stderr_path: str, when: str = "") -> str:
    """How QEMU ended, when, and what it said: "QEMU aborted (SIGABRT) during boot: error: failed to set MSR
    ..." (its stderr's last lines, its own name stripped)."""
    if returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else f"signal {-returncode}"
        how = "QEMU aborted (SIGABRT)" if returncode == -signal.SIGABRT else f"QEMU was killed by {name}"
    else:
        how = f"QEMU exited with status {returncode}"
    how = f"{how} {when}" if when else how
    words = qemu_words(stderr_path)
    return f"{how}: {words}" if words else how


def qemu_words(path: str, chars: int = 400) -> str:
    """The last of what QEMU wrote to stderr, one line, without its program-name prefixes."""
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return ""
    lines = [line.strip().removeprefix(f"{QEMU}:").strip() for line in text.splitlines()]
    return "; ".join(line for line in lines if line)[-chars:]


def _console_said(console_log: str) -> str:
    """The console's last words, or that the guest printed nothing (a vCPU that never ran: a hung KVM)."""
    return _console_suffix(console_log) or "; the guest's console stayed empty"


def _console_suffix(console_log: str) -> str:
    console = log_tail(console_log)
    return f"; console: {console}" if console else ""


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


def log_tail(path: str, chars: int = 400) -> str:
    try:
        return " | ".join(Path(path).read_text(errors="replace")[-chars:].splitlines())
    except OSError:
        return ""
