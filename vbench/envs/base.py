"""The environment contract: availability with a reason, provision/teardown as a timed context manager, and
execute one workload invocation with a timeout.

A backend supplies only the transport: how to start ``python3 workloads/run.py '<json>'`` in its world
(a host subprocess, ``docker exec``, a guest agent) and where the runner and the scratch directory are as seen
from inside. Everything else (building the invocation, timing, reading the JSON line) lives here once.
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar

from vbench import catalog
from vbench.catalog import RUNNER
from vbench.envs.workers import WorkerLost, WorkerPipe
from vbench.errors import Unavailable, VBenchError
from vbench.ledger import Ledger
from vbench.model import EnvOptions, EnvSpec, Execution
from vbench.procs import OnStart, host_python, run_process
from vbench.validity import HostPath

WORKER_CLOSE_S = 15.0  # how long a worker may take to close its unit before its pipe is closed

# The network tools' servers beside the vbench server (port 5201) where an image holds them (a container, a
# guest); sockperf serves TCP and UDP on one port, like the vbench server. Keys are the client's parameters.
TOOL_PORTS = {"iperf3_port": 5202, "sockperf_port": 5203}
PROBE_HOLD_S = 0.5


def tool_servers_sh(bind: str, ports: dict[str, int]) -> str:
    """POSIX sh that starts, in the background, the tools' servers the image has (iperf3, sockperf TCP and UDP),
    listening on ``bind``; meant to run before the vbench server, whose readiness then implies theirs."""
    iperf3, sockperf = ports["iperf3_port"], ports["sockperf_port"]
    where = "" if bind == "0.0.0.0" else f" -B {bind}"
    return (f"if command -v iperf3 >/dev/null; then iperf3 -s -p {iperf3}{where} >/dev/null 2>&1 & fi; "
            f"if command -v sockperf >/dev/null; then sockperf sr -i {bind} -p {sockperf} >/dev/null 2>&1 & "
            f"sockperf sr --tcp -i {bind} -p {sockperf} >/dev/null 2>&1 & fi; ")


def serving(host: str, port: int, hold: float = PROBE_HOLD_S) -> bool:
    """Whether a TCP server really listens at ``host:port``: the connection is accepted and stays open for
    ``hold`` seconds. A forwarder (docker-proxy, QEMU's hostfwd) accepts on its own and closes at once when
    nothing listens behind it, so a bare connect would say yes to an empty port."""
    try:
        with socket.create_connection((host, port), timeout=5) as sock:
            sock.settimeout(hold)
            try:
                return sock.recv(1) != b""  # the servers wait for the client to speak first
            except socket.timeout:
                return True
    except OSError:
        return False


def wait_serving(host: str, port: int, timeout: float = 10.0, alive: Callable[[], bool] = lambda: True) -> bool:
    """Whether a server answers at ``host:port`` (:func:`serving`) within ``timeout``; False at once when
    ``alive`` says the server process is gone."""
    deadline = time.monotonic() + timeout
    while alive():
        if serving(host, port):
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return False


def free_port() -> int:
    """A port free for both TCP and UDP on every address (for -p and --network host)."""
    for _ in range(50):
        with socket.socket() as tcp, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            tcp.bind(("0.0.0.0", 0))
            port = tcp.getsockname()[1]
            try:
                udp.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    raise VBenchError("no port is free for both TCP and UDP")


def placement(workload: str) -> str:
    """Where a workload runs: "guest" (the runner inside the environment), "client" (a network client beside
    the environment, whose server is inside) or "environment" (measured by the environment from the host, as
    start-up latency)."""
    return getattr(catalog.load(workload), "PLACEMENT", "guest")


@dataclass(frozen=True)
class Availability:
    ok: bool
    reason: str

    def __bool__(self) -> bool:
        return self.ok


@dataclass
class Lifecycle:
    """Timestamps of the environment's own life (wall clock, seconds since the epoch) and their durations."""

    provision_start: float | None = None
    provision_end: float | None = None
    teardown_start: float | None = None
    teardown_end: float | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        def span(a: float | None, b: float | None) -> float | None:
            return round(b - a, 6) if a is not None and b is not None else None

        return {"provision_start": self.provision_start, "provision_s": span(self.provision_start, self.provision_end),
                "teardown_start": self.teardown_start, "teardown_s": span(self.teardown_start, self.teardown_end),
                "notes": self.notes}


@dataclass(frozen=True)
class Context:
    """What every environment of a run shares: the run's id (for labels), the host scratch root, options, and
    the ledger in which environments list what they create before creating it (see vbench.reaper)."""

    run_id: str
    scratch_root: str
    options: EnvOptions = field(default_factory=EnvOptions)
    ledger: Ledger = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.options, EnvOptions):  # a mapping of the options' names
            object.__setattr__(self, "options", EnvOptions(**self.options))
        object.__setattr__(self, "ledger", Ledger(self.run_id))

    def make_scratch(self, kind: str) -> str:
        """A fresh 0700 directory under the scratch root, listed in the ledger."""
        os.makedirs(self.scratch_root, mode=0o700, exist_ok=True)
        path = tempfile.mkdtemp(prefix=f"vbench-{self.run_id}-{kind}-", dir=self.scratch_root)
        self.ledger.add_dir(path)
        return path

    def remove_scratch(self, path: str | None) -> None:
        if path:
            shutil.rmtree(path, ignore_errors=True)
            self.ledger.forget_dir(path)


class Environment(ABC):
    """One environment kind; an instance is one variant of it, provisioned for one run."""

    kind: ClassVar[str]
    summary: ClassVar[str] = ""
    variants: ClassVar[tuple[str, ...]] = ()
    default_variant: ClassVar[str | None] = None
    guest_workloads: ClassVar[bool] = True  # False: an environment only for network (client/server) workloads
    keeps_workers: ClassVar[bool] = False  # True where open_worker gives a warm worker (paired slices can run)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A backend that defines ``open_worker`` keeps workers unless it says otherwise (a plugin written before
        ``keeps_workers`` existed keeps its paired slices)."""
        super().__init_subclass__(**kwargs)
        if "open_worker" in cls.__dict__ and "keeps_workers" not in cls.__dict__:
            cls.keeps_workers = True

    def __init__(self, spec: EnvSpec, context: Context):
        self.spec = spec
        self.context = context
        self.lifecycle = Lifecycle()
        self.stopped: str | None = None  # why this environment can run no more trials (a dead daemon, a hung guest)
        self._worker: WorkerPipe | None = None  # the warm worker of sliced trials, opened on first use

    @classmethod
    @abstractmethod
    def available(cls) -> Availability:
        """Whether this kind can run on this host, and why not."""

    @classmethod
    def available_variant(cls, variant: str | None) -> Availability:
        """Whether this variant of the kind can run here (some need more than the kind, e.g. root)."""
        return cls.available()

    @classmethod  # noqa: B027 - an optional hook, empty unless a backend needs one
    def preflight(cls, spec: EnvSpec, options: EnvOptions, say: Callable[[str], None]) -> None:
        """Checks that need the run's options and may take a while (a VM's KVM probe), done before the run
        starts; ``Unavailable`` skips a default environment, any other VBenchError stops the run before it begins."""

    @abstractmethod
    def provision(self) -> None:
        """Create what the variant needs (scratch storage, a container, a VM)."""

    @abstractmethod
    def teardown(self) -> None:
        """Remove everything ``provision`` created; must be safe after a partial provision."""

    @abstractmethod
    def transport(self, argv: list[str], timeout: float, on_start: OnStart | None) -> Execution:
        """Run ``argv`` inside the environment with the scratch directory as working directory."""

    @property
    @abstractmethod
    def workdir(self) -> str:
        """The storage under test, as a path inside the environment."""

    @property
    @abstractmethod
    def runner_argv(self) -> list[str]:
        """The interpreter and runner path inside the environment."""

    @property
    def user_dir(self) -> str | None:
        """The user's own directory (pytest-benchmark suites) as seen inside, shared read-only; None if none."""
        return None

    def plugin_paths(self) -> list[str]:
        """The directories holding the third-party workloads' packages as seen inside: by default the host's own
        (an environment on the host's filesystem); a container or VM gets them at ``/opt/vbench/plugins``."""
        return sorted({str(source.parent) for source in catalog.plugin_sources()})

    def fingerprint(self) -> dict:
        return {"kind": self.kind, "variant": self.spec.variant}

    def endpoint(self) -> tuple[str, int]:
        """Where the client reaches the network workloads' server inside this environment (started on first
        use, serving every trial of the run)."""
        raise Unavailable(f"{self.spec.label} has no network endpoint")

    def tool_ports(self) -> dict[str, int]:
        """The ports of the network tools' servers this environment runs (``iperf3_port``, ``sockperf_port``),
        after :meth:`endpoint`; a tool left out is not served, and its workloads use the stdlib client."""
        return {}

    def client_transport(self, argv: list[str], timeout: float, on_start: OnStart | None) -> Execution:
        """Run a network client (the runner with a client workload); by default on the host."""
        return run_process(argv, "/", timeout, on_start)

    def client_runner_argv(self) -> list[str]:
        return [host_python(), str(RUNNER)]

    def _run_client(self, invocation: dict, timeout: float, on_start: OnStart | None) -> Execution:
        """A network trial: the server is in this environment, the client where the variant puts it (the host,
        or a peer); the client's clock decides the figures."""
        try:
            host, port = self.endpoint()
        except Exception as exc:  # no endpoint: the trial fails with why, the run goes on
            record = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            return Execution(json.dumps(record), "", 1, 0.0)
        # the tools' servers, for a client that takes their ports (a client of someone else's need not)
        takes = catalog.load(invocation["workload"]).PARAMS
        tools = {key: served for key, served in self.tool_ports().items() if key in takes}
        params = {**invocation.get("params", {}), "host": host, "port": port, **tools}
        payload = json.dumps({**invocation, "params": params, "workdir": "/tmp"}, sort_keys=True)
        return self.client_transport([*self.client_runner_argv(), payload], timeout, on_start)

    def first_output_s(self, timeout: float) -> float:
        """Seconds from asking for a fresh instance of this environment to its first output (startup suite)."""
        raise Unavailable(f"{self.kind} does not measure start-up")

    def _measure_startup(self, invocation: dict, timeout: float) -> Execution:
        from workloads.run import result_record

        start = time.perf_counter()
        try:
            seconds = self.first_output_s(timeout)
        except Exception as exc:  # a start that fails is a failed trial with its reason
            record = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            return Execution(json.dumps(record), "", 1, time.perf_counter() - start)
        record = result_record(invocation["workload"], {}, {"first_output": seconds}, seconds)
        # timed by the host's clock: no guest ran a timer, so the trial has no guest duration to show
        record["duration_s"] = None
        record["info"] = {**record.get("info", {}), "timed_by": "host"}
        return Execution(json.dumps(record), "", 0, time.perf_counter() - start)

    def open_worker(self) -> WorkerPipe:
        """A warm worker (workloads/worker.py) in this environment, for sliced trials (vbench.slices); the
        environment closes it at teardown. Unavailable where the backend cannot keep one (``keeps_workers``)."""
        raise Unavailable(f"{self.spec.label} cannot keep a warm worker")

    def worker(self) -> WorkerPipe:
        """This environment's warm worker, opened on first use and again after one was lost."""
        if self.stopped:
            raise WorkerLost(f"environment {self.spec.label} stopped: {self.stopped}")
        pipe = self._worker
        if pipe is None:
            try:
                pipe = self.open_worker()
            except (Unavailable, WorkerLost):
                raise
            except Exception as exc:  # the outside world failed in a way the backend did not foresee
                raise WorkerLost(f"{self.spec.label} could not start a worker: {describe(exc)}") from exc
            self._worker = pipe
        return pipe

    def drop_worker(self) -> None:
        """Close the warm worker (it was lost, or the run is over); the next ``worker()`` opens a new one."""
        pipe, self._worker = self._worker, None
        if pipe is not None:
            try:  # first the worker closes its unit (a paused fio and its file): closing the pipe may kill it
                pipe.ask({"op": "close"}, WORKER_CLOSE_S)
            except Exception:  # noqa: BLE001  a lost or closed pipe: nothing more to ask of it
                pass
            try:
                pipe.close()
            except Exception as exc:
                self.lifecycle.notes.append(f"closing a worker failed: {describe(exc)}")

    def stop_with(self, reason: str) -> None:
        """Mark the environment as unable to run more trials; the first reason given is kept."""
        if not self.stopped:
            self.stopped = reason
            self.lifecycle.notes.append(f"stopped: {reason}")

    def trial_tags(self) -> dict:
        """Facts every trial of this environment carries, e.g. a VM's accelerator."""
        return {}

    def host_path(self) -> HostPath | None:
        """What holds this environment's files on the host and what it does with their I/O, which the
        workload's own probe cannot see (a VM's disk cache mode, virtiofsd's options, tmpfs being memory); None
        for an environment without storage under test (dockernet)."""
        return None

    def cannot_slice_io(self) -> str | None:
        """Why a paused fio's work cannot be counted in this environment's storage (the kernel counts a
        process's I/O at the block layer: tmpfs, 9p and virtiofs are not block storage), or None when it can.
        Its fio blocks then run it as whole trials beside the others' paired slices."""
        return None

    def counters(self) -> dict | None:
        """Cumulative counters the environment's own API reports (e.g. the Engine API's stats), if any;
        the runner stores their change over each trial beside the collectors' figures as a cross-check."""
        return None

    def __enter__(self) -> "Environment":
        """Provision; every failure of the outside world (a process, a daemon, a socket) becomes a VBenchError
        that names the environment, after a teardown of whatever was made."""
        self.lifecycle.provision_start = time.time()
        try:
            self.provision()
        except VBenchError as exc:
            self._teardown_quietly()
            if not str(exc).startswith(self.spec.label):
                exc.args = (f"{self.spec.label}: {exc}",)
            raise
        except Exception as exc:
            self._teardown_quietly()
            raise VBenchError(f"{self.spec.label} could not be set up: {describe(exc)}") from exc
        except BaseException:
            self._teardown_quietly()
            raise
        self.lifecycle.provision_end = time.time()
        return self

    def _teardown_quietly(self) -> None:
        """Teardown after a failed provision: a second failure is noted, not raised (the reaper's ledger still
        lists what could not be removed)."""
        try:
            self.teardown()
        except Exception as exc:
            self.lifecycle.notes.append(f"teardown after a failed start failed: {describe(exc)}")

    def __exit__(self, *exc: object) -> None:
        """Teardown; a failure of the outside world here is noted, not raised: the finished trials are safe, and
        the reaper's ledger still lists whatever could not be removed (`vbench clean` finishes it)."""
        self.lifecycle.teardown_start = time.time()
        self.drop_worker()
        try:
            self.teardown()
        except Exception as exc:
            self.lifecycle.notes.append(f"teardown failed: {describe(exc)}; vbench clean removes what is left")
        self.lifecycle.teardown_end = time.time()

    def execute(self, invocation: dict, timeout: float, on_start: OnStart | None = None) -> Execution:
        """Run one workload invocation; the runner's JSON line comes back in ``Execution.stdout``.

        Once the environment has stopped, every trial fails at once with the reason, and the run goes on."""
        if self.stopped:
            return Execution("", "", None, 0.0, error=f"environment {self.spec.label} stopped: {self.stopped}")
        start = time.perf_counter()
        try:
            return self._dispatch(invocation, timeout, on_start)
        except Exception as exc:  # a transport that failed in a way its backend did not foresee: this trial fails
            return Execution("", "", None, time.perf_counter() - start,
                             error=f"{self.spec.label} could not run the trial: {describe(exc)}")

    def _dispatch(self, invocation: dict, timeout: float, on_start: OnStart | None) -> Execution:
        where = placement(invocation["workload"])
        if where == "environment":
            return self._measure_startup(invocation, timeout)
        if where == "client":
            return self._run_client(invocation, timeout, on_start)
        payload = json.dumps({**invocation, **self.invocation_fields(invocation["workload"])}, sort_keys=True)
        return self.transport([*self.runner_argv, payload], timeout, on_start)

    def invocation_fields(self, workload: str) -> dict:
        """What this environment adds to an invocation of ``workload`` (a trial's or a warm worker's): the working
        directory, the user's shared directory, and where a third-party workload's package is seen inside."""
        fields = {"workdir": self.workdir, **({"user_dir": self.user_dir} if self.user_dir else {})}
        third = catalog.plugin(workload)
        return {**fields, "module": third.module, "plugins": self.plugin_paths()} if third else fields


def describe(exc: BaseException) -> str:
    """An exception from the outside world in one line: its type and the first line of its message."""
    text = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
