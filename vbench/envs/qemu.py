"""``vm``: the runner in a QEMU virtual machine, reached through a guest agent on virtio-serial.

One boot serves every trial of a variant; the boot (QEMU start to agent ready) is timed and recorded. Storage
variants, the storage under test mounted at /scratch in the guest:

- ``virtio``: a raw scratch image on virtio-blk, cache=none and aio=native where the host filesystem allows,
- ``qcow2``: the same as a qcow2 image,
- ``virtiofs``: a host scratch directory through virtiofsd (the VM analogue of a bind mount),
- ``9p``: the same directory through virtio-9p (needs the generic kernel; the cloud kernel lacks 9p).
- ``usernet``: ``virtio`` storage plus QEMU's user-mode network (slirp) with the network workloads' server in
  the guest, reached from the host through a hostfwd port (for the net suite).
- ``tap``: ``virtio`` storage plus a tap device on a Linux bridge (root only), in a private network namespace
  that QEMU and the network client run in (``vbench.envs.netns``); vhost-net under KVM.

Accelerator: KVM when a probe boot with KVM really reaches the agent, else TCG software emulation, recorded in
every result. TCG is emulation, not virtualization: its numbers are never KVM numbers.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from vbench import catalog
from vbench.catalog import WORKLOADS_DIR
from vbench.envs import netns
from vbench.envs.base import TOOL_PORTS, Availability, Environment, OnStart, free_port, wait_serving
from vbench.envs.qemu_machine import (GUEST_INIT_SH, QEMU, BootFailed, ChannelError, Guest, VMConfig, log_tail,
                                       boot, exit_description, qemu_words, stderr_log, stop_process, virtiofsd)
from vbench.envs.workers import WorkerLost, WorkerPipe
from vbench.errors import Unavailable, VBenchError
from vbench.fingerprint import filesystem_of
from vbench.ledger import boot_id
from vbench.model import GUEST_PLUGINS, GUEST_ROOT, SERVER_PORT, EnvOptions, Execution, Handle
from vbench.validity import HostPath, on_filesystem
from workloads.io._direct import probe_direct

KERNEL_FOR = {"virtio": "cloud", "qcow2": "cloud", "virtiofs": "cloud", "9p": "generic", "usernet": "cloud",
              "tap": "cloud"}
STORAGE_FOR = {"virtio": "block", "qcow2": "block", "virtiofs": "virtiofs", "9p": "9p", "usernet": "block",
               "tap": "block"}
USERNET_GUEST_ADDRESS = "10.0.2.15"  # QEMU's user-mode network hands the guest this address
BOOT_TIMEOUT = {"kvm": 90.0, "tcg": 300.0}
PROBE_TIMEOUT = 45.0
GRACE_S = 60.0  # how long past a trial's timeout the agent may take to answer before the guest counts as hung
SCRATCH_SIZE = "8G"


class GuestLost(VBenchError):
    """The guest, its QEMU or its virtiofsd went away while a trial ran."""


class VM(Environment):
    kind = "vm"
    summary = "a QEMU guest (KVM when a probe boot succeeds, else TCG emulation) with the agent on virtio-serial"
    variants = ("virtio", "qcow2", "virtiofs", "9p", "usernet", "tap")
    default_variant = "virtio"
    keeps_workers = True

    def __init__(self, spec, context):
        super().__init__(spec, context)
        self.guest: Guest | None = None
        self.config: VMConfig | None = None
        self._tool_ports: dict[str, int] | None = None
        self.accel_reason = ""
        self._dir: str | None = None
        self._sockets: str | None = None
        self._virtiofsd: subprocess.Popen | None = None
        self._virtiofsd_log = ""
        self._netns: str | None = None
        self._next_id = 0
        self._pinned_vcpu: int | None = None  # the QEMU thread a sliced block pinned, unpinned before a whole trial

    def cannot_slice_io(self) -> str | None:
        if self.spec.variant in ("virtiofs", "9p"):
            return (f"its files are on {self.spec.variant}, a file system the guest kernel's per-process I/O "
                    "accounting does not count (not block storage)")
        return None

    @classmethod
    def available(cls) -> Availability:
        if not shutil.which(QEMU):
            return Availability(False, f"{QEMU} is not installed (apt-get install qemu-system-x86 qemu-utils)")
        from vbench.images import guest_image

        image = guest_image()
        if not image.disk.is_file():
            return Availability(False, f"the VM disk of guest image {image.hash} is not built: vbench images build")
        return Availability(True, f"{QEMU} and guest disk {image.hash}")

    @classmethod
    def available_variant(cls, variant: str | None) -> Availability:
        if variant == "tap":
            tap = netns.tap_availability()
            if not tap:
                return tap
        return cls.available()

    @classmethod
    def preflight(cls, spec, options: EnvOptions, say) -> None:
        """Decide the accelerator before the run starts: the KVM probe boot (cached per host boot) runs here, so
        that ``--accel kvm`` on a host where KVM cannot run is an error before anything is provisioned."""
        from vbench.images import guest_image

        requested = options.accel or "auto"
        if requested != "tcg":
            image = guest_image()
            if probe_kvm(image, cached_only=True)[0] is None:
                say(f"probing KVM: booting a guest under KVM once (at most {PROBE_TIMEOUT:.0f}s, cached until "
                    "the host reboots)")
            choose_accel(requested, image)

    def provision(self) -> None:
        from vbench.images import guest_image

        image = guest_image()
        accel, self.accel_reason = choose_accel(self.context.options.accel or "auto", image)
        ledger = self.context.ledger
        self._dir = self.context.make_scratch(f"vm-{self.spec.variant}")
        self._sockets = tempfile.mkdtemp(prefix="vbench-vm-")  # short paths: unix sockets allow ~107 bytes
        ledger.add_dir(self._sockets)
        if self.spec.variant == "tap":
            self._netns = netns.new_name()
            ledger.add_netns(self._netns)
            netns.create_bridge_netns(self._netns)
        self.config = self._configure(image, accel)
        if self.config.storage == "virtiofs":
            self._virtiofsd_log = os.path.join(self._dir, "virtiofsd.log")
            self._virtiofsd = start_virtiofsd(self.config.virtiofs_socket, self.config.scratch, self._virtiofsd_log)
            ledger.add_process(self._virtiofsd.pid)
        timeout = float(self.context.options.boot_timeout or BOOT_TIMEOUT[accel])
        self.guest = boot(self.config, timeout, on_spawn=ledger.add_process)
        self.lifecycle.notes.append(f"booted under {accel} in {self.guest.boot_s:.2f}s")

    def _configure(self, image, accel: str) -> VMConfig:
        variant = self.spec.variant
        kernel, initrd = image.kernel(KERNEL_FOR[variant])
        storage = STORAGE_FOR[variant]
        scratch, fmt, direct = None, "raw", True
        if storage == "block":
            fmt = "qcow2" if variant == "qcow2" else "raw"
            scratch = os.path.join(self._dir, f"scratch.{fmt}")
            size = self.context.options.disk_size or SCRATCH_SIZE
            run_tool(["qemu-img", "create", "-q", "-f", fmt, scratch, str(size)], "creating the scratch disk")
            direct = probe_direct(self._dir)[0]
        elif storage in ("virtiofs", "9p"):
            scratch = os.path.join(self._dir, "shared")
            os.mkdir(scratch, 0o700)
        options = self.context.options
        network = {}
        if variant == "usernet":
            network = {"hostfwd_port": free_port(), "guest_address": USERNET_GUEST_ADDRESS,
                       "tool_hostfwd": tuple((free_port(), port) for port in TOOL_PORTS.values())}
        elif variant == "tap":
            network = {"netns": self._netns, "tap": netns.TAP, "guest_address": netns.GUEST_ADDRESS,
                       "vhost": accel == "kvm" and os.path.exists("/dev/vhost-net")}
        return VMConfig(accel=accel, kernel=str(kernel), initrd=str(initrd), root_disk=str(image.disk),
                        payload_disk=build_payload(self._dir, self.context.options.user_dir),
                        agent_socket=os.path.join(self._sockets, "agent"),
                        console_log=os.path.join(self._dir, "console.log"), storage=storage, scratch=scratch,
                        scratch_format=fmt, virtiofs_socket=os.path.join(self._sockets, "vfs"), direct_io=direct,
                        vcpus=int(options.vcpus or min(2, os.cpu_count() or 1)),
                        memory_mb=int(options.memory_mb or 2048), **network)

    def teardown(self) -> None:
        ledger = self.context.ledger
        self._tool_ports = None
        if self.guest:
            self.guest.channel.close()
            stop_process(self.guest.proc)
            ledger.forget_process(self.guest.proc.pid)
            self.guest = None
        if self._virtiofsd:
            stop_process(self._virtiofsd)
            ledger.forget_process(self._virtiofsd.pid)
            self._virtiofsd = None
        if self._netns:
            netns.delete_netns(self._netns)
            ledger.forget_netns(self._netns)
            self._netns = None
        for directory in (self._dir, self._sockets):
            self.context.remove_scratch(directory)
        self._dir = self._sockets = None

    @property
    def workdir(self) -> str:
        return "/scratch"

    @property
    def runner_argv(self) -> list[str]:
        return ["python3", f"{GUEST_ROOT}/workloads/run.py"]

    @property
    def user_dir(self) -> str | None:
        return f"{GUEST_ROOT}/user" if self.context.options.user_dir else None

    def plugin_paths(self) -> list[str]:
        return [GUEST_PLUGINS]

    def transport(self, argv: list[str], timeout: float, on_start: OnStart | None) -> Execution:
        if self._pinned_vcpu is not None:  # a whole trial runs as it would without slices: every vCPU free
            unpin_thread(self.guest.proc.pid, self._pinned_vcpu)
            self._pinned_vcpu = None
        self._next_id += 1
        request = {"op": "exec", "id": self._next_id, "argv": argv, "cwd": self.workdir, "timeout": timeout}
        start = time.perf_counter()
        if on_start:
            on_start(Handle(pid=self.guest.proc.pid,  # virtiofsd does a virtiofs guest's file I/O on the host
                            extra_pids=(self._virtiofsd.pid,) if self._virtiofsd else ()))
        grace = float(self.context.options.agent_grace or GRACE_S)
        try:
            self.guest.channel.send(request)
            reply = self._await(self._next_id, time.monotonic() + timeout + grace)
        except (ChannelError, GuestLost) as exc:
            return self._lost(str(exc), time.perf_counter() - start)
        wall = time.perf_counter() - start
        if reply is None:
            self.stop_with(f"the guest did not answer within {timeout + grace:.0f}s; it was killed")
            console = log_tail(self.config.console_log, 2000)
            stop_process(self.guest.proc)
            return Execution("", f"{self.stopped}; console: {console}", None, wall, timed_out=True)
        if not _well_formed(reply):
            return self._lost(f"the guest agent sent a malformed result: {str(reply)[:120]}", wall)
        return Execution(reply.get("stdout", ""), reply.get("stderr", ""), reply.get("returncode"), wall,
                         bool(reply.get("timed_out")), far_wall_s=reply.get("wall_s"))

    def open_worker(self) -> "AgentWorker":
        if self.guest is None:
            raise WorkerLost(f"{self.spec.label} has no running guest")
        return AgentWorker(self)

    def _await(self, request_id: int, deadline: float, op: str = "result") -> dict | None:
        """The agent's ``op`` message for ``request_id``; None when ``deadline`` passes first."""
        while True:
            self._check_alive()
            message = self.guest.channel.receive(min(deadline, time.monotonic() + 1.0))
            if message and message.get("op") == op and message.get("id") == request_id:
                return message
            if message is None and time.monotonic() >= deadline:
                return None

    def _check_alive(self) -> None:
        proc, daemon = self.guest.proc, self._virtiofsd
        if proc.poll() is not None:
            raise GuestLost(exit_description(proc.returncode, stderr_log(self.config), "during a trial"))
        if daemon is not None and daemon.poll() is not None:
            raise GuestLost(f"virtiofsd exited with status {daemon.returncode} during a trial"
                            + _said(self._virtiofsd_log))

    def _lost(self, reason: str, wall: float) -> Execution:
        """The guest cannot serve this or any later trial: say why (QEMU's own words when it died) and stop it."""
        proc = self.guest.proc
        try:
            proc.wait(1.0)  # a reset channel is most often QEMU dying: let its exit be the reason
        except subprocess.TimeoutExpired:
            pass
        if proc.poll() is not None and not reason.startswith("QEMU"):
            reason = f"{exit_description(proc.returncode, stderr_log(self.config), 'during a trial')} ({reason})"
        self.stop_with(reason)
        stop_process(proc)
        console = log_tail(self.config.console_log, 2000)
        return Execution("", f"console: {console}", None, wall, error=self.stopped)

    def endpoint(self) -> tuple[str, int]:
        """The guest's network server: through QEMU's user-mode network (``usernet``, a hostfwd port on the
        host's loopback) or the guest's address behind the tap (``tap``, from inside the namespace); waits
        until the server in the guest answers."""
        c = self.config
        if not c or not c.guest_address:
            raise Unavailable(f"{self.spec.label} has no network; use vm:usernet or vm:tap for network workloads")
        target = (c.guest_address, SERVER_PORT) if c.tap else ("127.0.0.1", c.hostfwd_port)
        deadline = time.monotonic() + 60
        while not self._answers(target):
            if time.monotonic() > deadline:
                raise Unavailable(f"the network server in the {self.spec.label} guest did not answer")
            time.sleep(0.2)
        if self._tool_ports is None:  # the guest starts the tools' servers before the vbench server
            dialled = (dict(zip(TOOL_PORTS, (host for host, _ in c.tool_hostfwd))) if not c.tap
                       else dict(TOOL_PORTS))
            self._tool_ports = {key: port for key, port in dialled.items() if self._serves((target[0], port))}
        return target

    def tool_ports(self) -> dict[str, int]:
        return dict(self._tool_ports or {})

    def _serves(self, target: tuple[str, int]) -> bool:
        """Whether a tool's server listens at ``target`` (:func:`serving`), asked from where the client runs."""
        if not self._netns:
            return wait_serving(*target, timeout=5.0)
        probe = (f"import sys\nfrom vbench.envs.base import wait_serving\n"
                 f"sys.exit(0 if wait_serving({target[0]!r}, {target[1]}, timeout=5.0) else 1)")
        done = subprocess.run([*netns.exec_prefix(self._netns), sys.executable, "-c", probe],
                              capture_output=True, timeout=30)
        return done.returncode == 0

    def _answers(self, target: tuple[str, int]) -> bool:
        """Whether the server at ``target`` answers one request/response, asked from where the client runs."""
        probe = (f"import socket\nwith socket.create_connection({target!r}, timeout=5) as s:\n"
                 f"    s.sendall(b'rr 1\\n1'); assert s.recv(1)")
        if self._netns:
            done = subprocess.run([*netns.exec_prefix(self._netns), sys.executable, "-c", probe],
                                  capture_output=True, timeout=30)
            return done.returncode == 0
        try:
            with socket.create_connection(target, timeout=5) as sock:
                sock.sendall(b"rr 1\n1")
                return bool(sock.recv(1))
        except OSError:
            return False

    def client_transport(self, argv: list[str], timeout: float, on_start: OnStart | None) -> Execution:
        """The network client on the host; for ``tap`` inside the namespace where the bridge is."""
        prefix = netns.exec_prefix(self._netns) if self._netns else []
        return super().client_transport([*prefix, *argv], timeout, on_start)

    def first_output_s(self, timeout: float) -> float:
        """A fresh guest of this variant's kernel and accelerator, booted to its agent's first answer (the
        running guest stays up; a second one boots beside it with no storage under test)."""
        work = self.context.make_scratch(f"vm-boot-{self.spec.variant}")
        try:
            config = replace(self.config, payload_disk=build_payload(work), storage="none", scratch=None,
                             hostfwd_port=None, tool_hostfwd=(), netns=None, tap=None, guest_address=None, vhost=False,
                             agent_socket=os.path.join(self._sockets, f"boot-{self._next_id}"),
                             console_log=os.path.join(work, "console.log"), vcpus=1, memory_mb=512)
            self._next_id += 1
            guest = boot(config, timeout, on_spawn=self.context.ledger.add_process)
            guest.channel.close()
            stop_process(guest.proc)
            self.context.ledger.forget_process(guest.proc.pid)
            return guest.boot_s
        finally:
            self.context.remove_scratch(work)

    def trial_tags(self) -> dict:
        # TCG is emulation, not virtualization: every trial says which accelerator produced it.
        return {"accelerator": self.config.accel, "emulation": self.config.accel == "tcg"}

    def host_path(self) -> HostPath | None:
        """Where the guest's I/O lands on the host: the guest's own O_DIRECT probe sees only its virtual device."""
        c = self.config
        if c is None:
            return None
        fs = filesystem_of(c.scratch) if c.scratch else "unknown"
        if c.storage == "block":
            cached = "" if c.direct_io else " (the host filesystem lacks O_DIRECT: host page cache)"
            return on_filesystem(f"a {c.scratch_format} image with QEMU {c.disk_options}{cached}", fs, c.direct_io)
        if c.storage == "virtiofs":  # allow_direct_io: virtiofsd opens the host file with the guest's O_DIRECT
            return on_filesystem(f"virtiofsd {' '.join(VIRTIOFSD_OPTIONS)} sharing a directory", fs)
        if c.storage == "9p":  # QEMU's 9p server strips O_DIRECT from the guest's open flags (get_dotl_openflags)
            return on_filesystem("QEMU's 9p server (it drops O_DIRECT) sharing a directory", fs, False)
        return None

    def fingerprint(self) -> dict:
        c = self.config
        return {**super().fingerprint(), "accelerator": c.accel, "accelerator_reason": self.accel_reason,
                "emulation": c.accel == "tcg", "cpu_model": c.cpu_model, "vcpus": c.vcpus, "memory_mb": c.memory_mb,
                "kernel": Path(c.kernel).name, "guest_kernel": self.guest.pong.get("kernel") if self.guest else None,
                "network": network_of(c), "tool_ports": self._tool_ports, "storage": c.storage,
                "disk_format": c.scratch_format if c.storage == "block" else None,
                "disk_options": c.disk_options if c.storage == "block" else None,
                "boot_s": round(self.guest.boot_s, 3) if self.guest else None,
                "qemu": qemu_version()}


def network_of(c: VMConfig) -> str | None:
    """How the guest is networked, as the report shows it."""
    if c.tap:
        return (f"tap {c.tap} on bridge {netns.BRIDGE} in namespace {c.netns}, "
                f"virtio-net {'with' if c.vhost else 'without'} vhost-net; guest {c.guest_address}")
    if c.hostfwd_port:
        return (f"QEMU user network (slirp), hostfwd 127.0.0.1:{c.hostfwd_port} -> "
                f"guest {c.guest_address}:{SERVER_PORT}"
                + "".join(f", 127.0.0.1:{host} -> {guest}" for host, guest in c.tool_hostfwd))
    return None


def build_payload(directory: str, user_dir: str | None = None) -> str:
    """A small read-only ext4 image with the workloads, the agent, guest-init.sh, the third-party workloads'
    packages and the user's own directory (pytest-benchmark suites) if any (no mount needed)."""
    staging = Path(directory) / "payload"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", ".git", ".venv", ".benchmarks", ".pytest_cache")
    shutil.copytree(WORKLOADS_DIR, staging / "workloads", ignore=skip)
    (staging / "plugins").mkdir()
    for source in catalog.plugin_sources():
        if source.is_dir():
            shutil.copytree(source, staging / "plugins" / source.name, ignore=skip)
        else:
            shutil.copy2(source, staging / "plugins" / source.name)
    if user_dir:
        shutil.copytree(user_dir, staging / "user", ignore=skip)
    (staging / "guest-init.sh").write_text(GUEST_INIT_SH)
    image = os.path.join(directory, "payload.ext4")
    size_mb = sum(f.stat().st_size for f in staging.rglob("*") if f.is_file()) // 2**20 * 2 + 64
    run_tool(["mkfs.ext4", "-q", "-F", "-L", "vbench-payload", "-d", str(staging), image, f"{size_mb}M"],
             "building the payload disk")
    shutil.rmtree(staging)
    return image


# cache=auto: the guest's page cache for buffered I/O, as a user would mount it; allow_direct_io: a guest's
# O_DIRECT reaches the host file as O_DIRECT (without it virtiofsd drops the flag and the host's page cache serves
# "direct" I/O).
VIRTIOFSD_OPTIONS = ("cache=auto", "allow_direct_io")


def start_virtiofsd(socket_path: str, shared: str, log: str) -> subprocess.Popen:
    """virtiofsd sharing ``shared`` on ``socket_path``, its stderr in ``log``; VBenchError when it does not start."""
    daemon = virtiofsd()
    if not os.access(daemon, os.X_OK):
        raise Unavailable(f"{daemon} is missing (it comes with qemu-system-common)")
    with open(log, "wb") as err:
        options = [arg for option in VIRTIOFSD_OPTIONS for arg in ("-o", option)]
        proc = subprocess.Popen([daemon, f"--socket-path={socket_path}", "-o", f"source={shared}", *options],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                start_new_session=True)
    deadline = time.monotonic() + 10
    while not os.path.exists(socket_path):
        if proc.poll() is not None or time.monotonic() > deadline:
            status = ("did not open its socket in 10s" if proc.poll() is None
                      else f"exited with status {proc.returncode}")
            stop_process(proc)
            raise VBenchError(f"virtiofsd {status}" + _said(log))
        time.sleep(0.02)
    return proc


def _said(log: str) -> str:
    words = qemu_words(log, 300)
    return f": {words}" if words else ""


class AgentWorker(WorkerPipe):
    """The warm worker of sliced trials inside the guest agent's own process, asked over the agent channel.
    A guest that dies, resets the channel or stays silent stops the environment, as a trial's would."""

    def __init__(self, vm: VM):
        self.vm = vm
        self.pid = vm.guest.proc.pid  # QEMU: the vCPU threads the collectors can watch

    def ask(self, request: dict, timeout: float) -> dict:
        vm = self.vm
        if vm.stopped or vm.guest is None:
            raise WorkerLost(f"environment {vm.spec.label} stopped: {vm.stopped}")
        vm._next_id += 1
        grace = float(vm.context.options.agent_grace or GRACE_S)
        try:
            vm.guest.channel.send({"op": "work", "id": vm._next_id, "request": request})
            message = vm._await(vm._next_id, time.monotonic() + timeout + grace, op="worked")
        except (ChannelError, GuestLost) as exc:
            vm._lost(str(exc), 0.0)
            raise WorkerLost(vm.stopped) from None
        if message is None:
            vm.stop_with(f"the guest did not answer within {timeout + grace:.0f}s; it was killed (a slice)")
            stop_process(vm.guest.proc)
            raise WorkerLost(vm.stopped)
        reply = message.get("reply")
        if not isinstance(reply, dict) or "ok" not in reply:
            raise WorkerLost(f"the guest agent sent a malformed worker reply: {str(message)[:120]}")
        if request.get("op") == "prepare" and reply.get("ok") and request.get("cpu") is not None:
            reply["host_placement"], vm._pinned_vcpu = pin_vcpu_thread(vm.guest.proc.pid, reply.get("affinity"),
                                                                       request["cpu"])
        return reply

    def close(self) -> None:
        """The agent drops its worker (the next block's is a new one); nothing to stop, it goes with the guest."""
        vm = self.vm
        if vm.stopped or vm.guest is None:
            return
        try:
            self.ask({"op": "exit"}, 30.0)
        except WorkerLost:
            pass  # the environment has stopped, with its reason


def pin_vcpu_thread(qemu_pid: int, guest_cpus: list | None, index: int,
                    proc_root: str = "/proc") -> tuple[str, int | None]:
    """Pin the QEMU thread of the vCPU the guest's worker is pinned to onto the ``index``-th host CPU QEMU may
    use: what was done, in words (the guest's own pinning alone leaves the vCPU free to move on the host), and
    the thread's id (None when nothing was pinned)."""
    if not guest_cpus or len(guest_cpus) != 1:
        return "not pinned on the host: the guest's worker is not on one vCPU", None
    prefix = f"CPU {guest_cpus[0]}/"
    try:
        host_cpus = sorted(os.sched_getaffinity(qemu_pid))
        for tid in os.listdir(f"{proc_root}/{qemu_pid}/task"):
            with open(f"{proc_root}/{qemu_pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            if name.startswith(prefix):
                host = host_cpus[index % len(host_cpus)]
                os.sched_setaffinity(int(tid), {host})
                return f"QEMU's vCPU thread '{name}' pinned to host CPU {host}", int(tid)
    except OSError as exc:
        return f"not pinned on the host: {exc.strerror or exc}", None
    return f"not pinned on the host: QEMU has no thread named '{prefix}...'", None


def unpin_thread(qemu_pid: int, tid: int) -> None:
    """Give a QEMU thread back every CPU QEMU may use (a thread that ended needs nothing)."""
    try:
        os.sched_setaffinity(tid, os.sched_getaffinity(qemu_pid))
    except OSError:
        pass


def _well_formed(reply: dict) -> bool:
    """Whether an agent's result has the types the host reads (a garbled one must not pass as a result)."""
    return (isinstance(reply.get("stdout", ""), str) and isinstance(reply.get("stderr", ""), str)
            and (reply.get("returncode") is None or isinstance(reply.get("returncode"), int))
            and (reply.get("wall_s") is None or isinstance(reply.get("wall_s"), (int, float))))


def run_tool(argv: list[str], what: str) -> None:
    """Run a host tool (qemu-img, mkfs.ext4); VBenchError with its own words when it fails."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VBenchError(f"{what} failed: {argv[0]}: {getattr(exc, 'strerror', None) or exc}") from None
    if done.returncode != 0:
        words = " ".join(done.stderr.split())[-300:] or f"exit status {done.returncode}"
        raise VBenchError(f"{what} failed: {argv[0]}: {words}")


def choose_accel(requested: str, image) -> tuple[str, str]:
    """The accelerator to run and why: KVM only when a probe boot with it reaches the agent."""
    if requested not in ("auto", "kvm", "tcg"):
        raise VBenchError(f"--accel: {requested!r} is not one of auto, kvm, tcg")
    if requested == "tcg":
        return "tcg", "asked for TCG"
    ok, reason = probe_kvm(image)
    if ok:
        return "kvm", reason
    if requested == "kvm":
        raise VBenchError(f"KVM cannot run here: {reason}")
    return "tcg", f"TCG software emulation, because KVM is unusable: {reason}"


def probe_kvm(image, cached_only: bool = False) -> tuple[bool | None, str]:
    """Boot the guest under KVM once (cached per host boot, QEMU and image) and report whether it worked and,
    when not, why in QEMU's own words; with ``cached_only``, (None, why) instead of booting when there is no
    cached answer."""
    if not os.path.exists("/dev/kvm"):
        return False, "/dev/kvm is absent (no KVM module, or no VT-x/AMD-V)"
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return False, "/dev/kvm is not accessible to this user"
    cached = cached_probe(image)
    if cached is not None:
        return cached
    if cached_only:
        return None, "not probed since this host booted: the first VM run boots a KVM guest to find out " \
                     "(vbench doctor --probe does it now)"
    ok, reason = _probe_boot(image)
    _probe_cache(image).write_text(json.dumps({"key": _probe_key(image), "ok": ok, "reason": reason}))
    return ok, reason


def cached_probe(image) -> tuple[bool, str] | None:
    """The cached probe answer for this host boot, QEMU and image, if any."""
    try:
        cached = json.loads(_probe_cache(image).read_text())
        if cached.get("key") == _probe_key(image):
            return bool(cached["ok"]), str(cached["reason"])
    except (OSError, ValueError, KeyError, AttributeError):
        pass
    return None


def forget_probe(image) -> None:
    _probe_cache(image).unlink(missing_ok=True)


def _probe_cache(image) -> Path:
    return image.dir.parent / "kvm-probe.json"


def _probe_key(image) -> dict:
    return {"boot_id": boot_id(), "qemu": qemu_version(), "image": image.hash}


def _probe_boot(image) -> tuple[bool, str]:
    """Boot a minimal guest under KVM: (True, how long) or (False, why, in QEMU's words)."""
    work = tempfile.mkdtemp(prefix="vbench-kvm-probe-")
    try:
        kernel, initrd = image.kernel("cloud")
        config = VMConfig(accel="kvm", kernel=str(kernel), initrd=str(initrd), root_disk=str(image.disk),
                          payload_disk=build_payload(work), agent_socket=os.path.join(work, "agent"),
                          console_log=os.path.join(work, "console.log"), storage="none", vcpus=1, memory_mb=512)
        guest = boot(config, PROBE_TIMEOUT)
        guest.channel.close()
        stop_process(guest.proc)
        return True, f"a KVM probe boot reached the agent in {guest.boot_s:.1f}s"
    except BootFailed as exc:
        return False, str(exc)[:500]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def qemu_version() -> str | None:
    try:
        out = subprocess.run([QEMU, "--version"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.splitlines()[0] if out else None
