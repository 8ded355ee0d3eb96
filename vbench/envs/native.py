"""``native``: the baseline. The runner as a host subprocess in a scratch directory on the host filesystem."""
from __future__ import annotations

import functools
import select
import shutil
import subprocess
import time

from vbench.catalog import RUNNER, WORKLOADS_DIR
from vbench.envs.base import Availability, Environment, OnStart, free_port, wait_serving
from vbench.envs.workers import ProcessPipe
from vbench.fingerprint import filesystem_of
from vbench.model import Execution, Handle
from vbench.procs import host_python, run_process, start_server, stop_server
from vbench.validity import HostPath, on_filesystem
from workloads.io.fio import BLOCK_FILESYSTEMS

NET_SERVER = WORKLOADS_DIR / "net" / "server.py"
WORKER = WORKLOADS_DIR / "worker.py"


class Native(Environment):
    kind = "native"
    summary = "a host subprocess in a scratch directory on the host filesystem (the baseline)"
    variants = ("aa",)  # native:aa, the A/A control: the same as native, measured as if it were another
    keeps_workers = True

    def __init__(self, spec, context):
        super().__init__(spec, context)
        self._scratch: str | None = None
        self._server: subprocess.Popen | None = None
        self._port: int | None = None
        self._tools: list[subprocess.Popen] = []
        self._tool_ports: dict[str, int] = {}

    @classmethod
    def available(cls) -> Availability:
        return Availability(True, "always")

    def provision(self) -> None:
        self._scratch = self.context.make_scratch("native-aa" if self.spec.variant else "native")

    def teardown(self) -> None:
        self.context.remove_scratch(self._scratch)
        self._scratch = None
        for proc in [*self._tools, *([self._server] if self._server else [])]:
            stop_server(proc)
            self.context.ledger.forget_process(proc.pid)
        self._server, self._tools, self._tool_ports = None, [], {}

    def open_worker(self) -> ProcessPipe:
        return ProcessPipe([host_python(), str(WORKER)], self.workdir)

    def endpoint(self) -> tuple[str, int]:
        """The network baseline: the server on the host's loopback."""
        if self._server is None:
            self._server, self._port = start_server([host_python(), str(NET_SERVER), "--bind", "127.0.0.1"])
            self.context.ledger.add_process(self._server.pid)
            self._start_tools()
        return "127.0.0.1", self._port

    def tool_ports(self) -> dict[str, int]:
        return dict(self._tool_ports)

    def _start_tools(self) -> None:
        """iperf3's and sockperf's servers on loopback, each where its binary is installed and it answers."""
        commands = {"iperf3_port": lambda p: [["iperf3", "-s", "-p", str(p), "-B", "127.0.0.1"]],
                    "sockperf_port": lambda p: [["sockperf", "server", "-i", "127.0.0.1", "-p", str(p), *tcp]
                                                for tcp in ([], ["--tcp"])]}
        for key, argvs in commands.items():
            port = free_port()
            procs = []
            for argv in argvs(port):
                if shutil.which(argv[0]) is None:
                    break
                procs.append(subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL, start_new_session=True))
                self.context.ledger.add_process(procs[-1].pid)
            self._tools += procs
            if procs and wait_serving("127.0.0.1", port, alive=functools.partial(all_running, procs)):
                self._tool_ports[key] = port

    @property
    def workdir(self) -> str:
        assert self._scratch, "provision() first"
        return self._scratch

    @property
    def runner_argv(self) -> list[str]:
        return [host_python(), str(RUNNER)]

    @property
    def user_dir(self) -> str | None:
        return self.context.options.user_dir

    def transport(self, argv: list[str], timeout: float, on_start: OnStart | None) -> Execution:
        pids = []

        def started(handle: Handle) -> None:
            self.context.ledger.add_process(handle.pid)  # its own session: it would outlive a killed vbench
            pids.append(handle.pid)
            if on_start:
                on_start(handle)

        try:
            return run_process(argv, self.workdir, timeout, started)
        finally:
            for pid in pids:
                self.context.ledger.forget_process(pid)

    def first_output_s(self, timeout: float) -> float:
        """fork/exec of the interpreter to its first printed line: the baseline of start-up latency."""
        start = time.perf_counter()
        proc = subprocess.Popen([host_python(), "-c", "print('ready', flush=True)"], stdout=subprocess.PIPE,
                                stdin=subprocess.DEVNULL, text=True)
        try:
            if not select.select([proc.stdout], [], [], timeout)[0]:  # an interpreter that hangs silently
                proc.kill()
                raise TimeoutError(f"the interpreter printed nothing within {timeout:g}s")
            line = proc.stdout.readline()
            elapsed = time.perf_counter() - start
        finally:
            proc.stdout.close()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if line.strip() != "ready":
            raise RuntimeError(f"the process printed {line!r}, not 'ready'")
        return elapsed

    def host_path(self) -> HostPath:
        return on_filesystem("a directory", filesystem_of(self.workdir))

    def cannot_slice_io(self) -> str | None:
        fstype = filesystem_of(self.workdir)
        if fstype not in BLOCK_FILESYSTEMS:
            return f"its scratch directory is on {fstype}, which the kernel's per-process I/O accounting does not count"
        return None

    def fingerprint(self) -> dict:
        python = host_python()
        version = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                                 capture_output=True, text=True, timeout=60).stdout.strip()
        return {**super().fingerprint(), "python": python, "python_version": version, "scratch": self.workdir}


def all_running(procs: list[subprocess.Popen]) -> bool:
    return all(proc.poll() is None for proc in procs)
