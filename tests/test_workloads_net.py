"""The network workloads on loopback: the real server as a subprocess, each client through the real runner.

Speeds are never asserted, only that the figures are sane numbers with their declared units, that the server
survives many trials without keeping threads or sockets, and that it stops at once when told.
"""
from __future__ import annotations

import importlib
import json
import math
import os
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "workloads" / "run.py"
SERVER = ROOT / "workloads" / "net" / "server.py"
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")
SHORT = 0.3
CASES = {  # the stdlib clients, on purpose (tests/test_net_tools.py has iperf3's and sockperf's)
    "tcp_stream": ("net.tcp_stream", {"tool": "python"}),
    "tcp_rr": ("net.tcp_rr", {"tool": "python"}),
    "tcp_rr_100_200": ("net.tcp_rr", {"request": "100", "response": "200", "tool": "python"}),
    "udp_rr": ("net.udp_rr", {"tool": "python"}),
}


class Server:
    """The server script in a subprocess, with the port it reported."""

    def __init__(self, *extra: str, stdin: int | None = subprocess.DEVNULL) -> None:
        self.proc = subprocess.Popen([sys.executable, str(SERVER), "--port", "0", *extra], stdin=stdin,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = read_line_within(self.proc, 10.0)
        assert line.startswith("ready "), line + self.proc.stderr.read() if self.proc.poll() is not None else line
        self.port = int(line.split()[1])

    def threads(self) -> int:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:")))

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.proc.pid}/fd"))

    def terminate(self) -> tuple[int, float]:
        """(exit status, seconds it took) after SIGTERM."""
        start = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        status = self.proc.wait(timeout=10)
        return status, time.monotonic() - start

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


def read_line_within(proc: subprocess.Popen, seconds: float) -> str:
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        assert selector.select(seconds), "the server printed nothing in time"
    return proc.stdout.readline().strip()


@pytest.fixture(scope="module")
def server():
    srv = Server()
    yield srv
    srv.kill()


@pytest.fixture
def fresh_server():
    srv = Server()
    yield srv
    srv.kill()


def run_workload(workload: str, params: dict, python: str = sys.executable) -> tuple[int, dict]:
    invocation = json.dumps({"workload": workload, "params": params})
    proc = subprocess.run([python, str(RUNNER), invocation], capture_output=True, text=True, timeout=60)
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout + proc.stderr
    return proc.returncode, json.loads(lines[0])


def check_ok(workload: str, status: int, record: dict) -> dict:
    assert (status, record["ok"]) == (0, True), record.get("traceback")
    module = importlib.import_module(f"workloads.{workload}")
    assert set(record["metrics"]) == set(module.METRICS)
    assert record["primary"] == module.PRIMARY
    for name, metric in record["metrics"].items():
        assert math.isfinite(metric["value"]) and metric["value"] > 0, name
        assert (metric["unit"], metric["higher_is_better"]) == module.METRICS[name]
    return record["info"]


def until(predicate, seconds: float = 2.0) -> bool:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


@pytest.fixture(autouse=True)
def workloads_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))


# --- each client against the server subprocess --------------------------------------------------------------------

@pytest.mark.parametrize("case", CASES)
def test_client_against_the_server(server: Server, case: str) -> None:
    workload, extra = CASES[case]
    status, record = run_workload(workload, {"host": "127.0.0.1", "port": server.port, "seconds": SHORT, **extra})
    info = check_ok(workload, status, record)
    assert info["peer"] == f"127.0.0.1:{server.port}"
    assert record["flags"] == [] and info["tool"] == "python"
    assert info["bytes"] > 0 and 0 < info["elapsed_s"] < 5
    if workload == "net.tcp_stream":
        assert info["server_bytes"] == info["bytes"] == info["sends"] * 128 * 1024
    else:
        assert info["transactions"] > 0
    if case == "tcp_rr_100_200":
        assert (info["request_bytes"], info["response_bytes"]) == (100, 200)
        assert info["bytes"] == 300 * info["transactions"]
    if workload == "net.udp_rr":
        assert info["lost"] <= info["attempted"] // 10 and info["refused"] == 0


def test_many_trials_leave_no_threads_or_sockets(fresh_server: Server) -> None:
    threads, fds = fresh_server.threads(), fresh_server.fds()
    for _ in range(2):
        for workload, extra in CASES.values():
            status, record = run_workload(workload, {"port": fresh_server.port, "seconds": 0.1, **extra})
            check_ok(workload, status, record)
    assert until(lambda: fresh_server.threads() == threads), f"{fresh_server.threads()} threads, was {threads}"
    assert until(lambda: fresh_server.fds() == fds), f"{fresh_server.fds()} open files, was {fds}"


# --- self-contained runs, the guest's interpreter ------------------------------------------------------------------

@pytest.mark.parametrize("workload", ["net.tcp_stream", "net.tcp_rr", "net.udp_rr"])
def test_port_zero_runs_its_own_server(workload: str) -> None:
    """No peer and no tool server given: the stdlib client against its own in-process server, labelled as the
    fallback, with why."""
    status, record = run_workload(workload, {"seconds": SHORT})
    info = check_ok(workload, status, record)
    assert record["flags"] == ["in-process-server", "stdlib-fallback"]
    assert info["peer"].startswith("127.0.0.1:") and info["tool"] == "python"
    assert info["tool_fallback"] in ("the environment under test serves no iperf3",
                                     "sockperf's smallest message is 14 bytes (asked: 1)",
                                     "sockperf echoes messages of one size of at least 14 bytes (asked: 1 out, 1 back)")


@pytest.mark.skipif(SYSTEM_PYTHON is None, reason="no system python3")
@pytest.mark.parametrize("workload", ["net.tcp_stream", "net.tcp_rr", "net.udp_rr"])
def test_runs_under_the_system_python(server: Server, workload: str) -> None:
    status, record = run_workload(workload, {"port": server.port, "seconds": 0.1}, python=SYSTEM_PYTHON)
    check_ok(workload, status, record)


# --- the server's lifetime and protocol ----------------------------------------------------------------------------

def test_sigterm_stops_the_server_at_once_even_with_a_connection_open() -> None:
    srv = Server()
    try:
        with socket.create_connection(("127.0.0.1", srv.port)) as idle:
            idle.sendall(b"rr 1 1\n")
            assert until(lambda: srv.threads() == 2)  # the idle connection's thread, blocked in recv
            status, took = srv.terminate()
        assert status == 0 and took < 2.0, (status, took, srv.proc.stderr.read())
    finally:
        srv.kill()


def test_stdin_eof_stops_the_server_and_the_ready_file_names_the_port(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    srv = Server("--stdin-lifetime", "--ready-file", str(ready), stdin=subprocess.PIPE)
    try:
        assert ready.read_text() == f"ready {srv.port}\n"
        srv.proc.stdin.close()
        assert srv.proc.wait(timeout=2) == 0
    finally:
        srv.kill()


@pytest.mark.parametrize("line", [b"hello\n", b"rr\n", b"rr 0\n", b"rr x y\n"])
def test_a_bad_mode_line_gets_an_error(server: Server, line: bytes) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(line)
        assert conn.makefile("rb").readline().startswith(b"error ")


def test_rr_answers_pipelined_requests(server: Server) -> None:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as conn:
        conn.sendall(b"rr 3 5\n" + b"abc" * 4)
        conn.shutdown(socket.SHUT_WR)
        assert conn.makefile("rb").read() == bytes(20)


# --- UDP losses ----------------------------------------------------------------------------------------------------

def test_udp_rr_fails_clearly_when_nothing_answers() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        status, record = run_workload("net.udp_rr", {"port": silent.getsockname()[1], "seconds": 0.1,
                                                     "timeout": 0.2})
    assert (status, record["ok"]) == (1, False)
    assert record["error"].startswith("RuntimeError: udp_rr lost ")
    assert "more than 10%" in record["error"] and "no echo from 127.0.0.1:" in record["error"]


def test_udp_rr_names_a_port_where_nothing_listens() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as gone:
        gone.bind(("127.0.0.1", 0))
        port = gone.getsockname()[1]
    status, record = run_workload("net.udp_rr", {"port": port, "seconds": 0.1})
    assert (status, record["ok"]) == (1, False)
    assert "lost" in record["error"] and "nothing listens on that UDP port" in record["error"]
