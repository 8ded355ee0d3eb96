"""The network workloads' C clients (workloads/net/tools.py): iperf3 and sockperf against their real servers,
the choice between them and the stdlib fallback, and every way the tools fail, made to happen for real (a
refused port, a stand-in executable that prints garbage, fails or hangs).

Speeds are never asserted: only that the figures come from the tool named in the record.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from vbench.envs.base import free_port

ROOT = Path(__file__).resolve().parents[1]
RUNNER = ROOT / "workloads" / "run.py"
needs_iperf3 = pytest.mark.skipif(shutil.which("iperf3") is None, reason="iperf3 is not installed (setup.sh)")
needs_sockperf = pytest.mark.skipif(shutil.which("sockperf") is None, reason="sockperf is not installed (setup.sh)")

# sockperf 3.7's ping-pong summary, captured on loopback (the colour codes are sockperf's own)
SOCKPERF_OUT = """\
sockperf: [2;35m== version #3.7-no.git == [0m
sockperf: [Total Run] RunTime=1.000 sec; Warm up time=400 msec; SentMessages=92257; ReceivedMessages=92256
sockperf: ========= Printing statistics for Server No: 0
sockperf: [Valid Duration] RunTime=0.550 sec; SentMessages=49104; ReceivedMessages=49104
sockperf: [2;35m====> avg-rtt=11.177 (std-dev=73.264)[0m
sockperf: # dropped messages = 0; # duplicated messages = 0; # out-of-order messages = 0
sockperf: Summary: Round trip is 11.177 usec
sockperf: ---> percentile 99.999 = 3592.597
sockperf: ---> percentile 99.000 =   68.265
sockperf: ---> percentile 50.000 =    6.063
sockperf: ---> <MIN> observation =    5.733
"""


def run_workload(workload: str, params: dict, env: dict | None = None) -> tuple[int, dict]:
    invocation = json.dumps({"workload": workload, "params": params})
    proc = subprocess.run([sys.executable, str(RUNNER), invocation], capture_output=True, text=True, timeout=120,
                          env=env)
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout + proc.stderr
    return proc.returncode, json.loads(lines[0])


def serve(*argvs: list[str], port: int) -> list[subprocess.Popen]:
    """Start the tool servers ``argvs`` and wait until the TCP one answers."""
    from vbench.envs.base import wait_serving

    procs = [subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for argv in argvs]
    assert wait_serving("127.0.0.1", port, alive=lambda: all(p.poll() is None for p in procs)), argvs
    return procs


@pytest.fixture(scope="module")
def iperf3_port():
    port = free_port()
    procs = serve(["iperf3", "-s", "-p", str(port), "-B", "127.0.0.1"], port=port)
    yield port
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def sockperf_port():
    port = free_port()
    procs = serve(*[["sockperf", "server", "-i", "127.0.0.1", "-p", str(port), *tcp] for tcp in ([], ["--tcp"])],
                  port=port)
    yield port
    for proc in procs:
        proc.kill()
        proc.wait()


@pytest.fixture(autouse=True)
def workloads_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))


def stand_in(tmp_path: Path, name: str, script: str) -> dict:
    """An environment whose PATH finds only a stand-in ``name`` (a shell script)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    path.write_text("#!/bin/sh\n" + script)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return {**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin"}


# --- the real tools --------------------------------------------------------------------------------------------

@needs_iperf3
def test_tcp_stream_runs_iperf3_where_its_server_is(iperf3_port: int) -> None:
    status, record = run_workload("net.tcp_stream", {"iperf3_port": iperf3_port, "seconds": 1})
    assert (status, record["ok"]) == (0, True), record.get("error")
    info = record["info"]
    assert info["tool"] == "iperf3" and record["flags"] == []
    assert info["command"].startswith(f"iperf3 -c 127.0.0.1 -p {iperf3_port} -t 1 -l 131072 -J")
    assert info["server_bytes"] > 0 and 0.5 < info["elapsed_s"] < 5
    assert record["metrics"]["throughput"]["value"] > 0


@needs_sockperf
@pytest.mark.parametrize("workload, sizes", [("net.tcp_rr", {"request": "14", "response": "14"}),
                                             ("net.udp_rr", {"size": "64"})])
def test_request_response_runs_sockperf_where_its_server_is(sockperf_port: int, workload: str,
                                                            sizes: dict) -> None:
    status, record = run_workload(workload, {"sockperf_port": sockperf_port, "seconds": 1, **sizes})
    assert (status, record["ok"]) == (0, True), record.get("error")
    info, metrics = record["info"], record["metrics"]
    assert info["tool"] == "sockperf" and record["flags"] == []
    assert "--full-rtt" in info["command"] and ("--tcp" in info["command"]) == (workload == "net.tcp_rr")
    assert info["transactions"] > 0 and info["request_bytes"] == int(next(iter(sizes.values())))
    assert metrics["tps"]["value"] > 0 and metrics["lat_p50"]["value"] > 0
    import workloads.net.tcp_rr as tcp_rr
    import workloads.net.udp_rr as udp_rr

    assert set(metrics) == set((tcp_rr if workload == "net.tcp_rr" else udp_rr).METRICS)


def test_sockperf_figures_come_from_its_valid_duration() -> None:
    from workloads.net.tools import parse_sockperf

    result = parse_sockperf(SOCKPERF_OUT, "sockperf ping-pong ...", 14)
    assert result["metrics"] == {"tps": 49104 / 0.550, "lat_mean": 11.177, "lat_p50": 6.063, "lat_p99": 68.265}
    assert (result["info"]["transactions"], result["info"]["lost"], result["info"]["elapsed_s"]) == (49104, 0, 0.55)


# --- the choice, and the labelled fallback ---------------------------------------------------------------------

def test_sizes_sockperf_cannot_send_fall_back_with_why_or_fail_when_sockperf_is_asked() -> None:
    status, record = run_workload("net.tcp_rr", {"sockperf_port": 9, "seconds": 0.2, "request": "100",
                                                 "response": "200"})
    assert (status, record["ok"]) == (0, True), record.get("error")
    assert record["info"]["tool"] == "python" and "stdlib-fallback" in record["flags"]
    assert record["info"]["tool_fallback"].startswith("sockperf echoes messages of one size")
    status, record = run_workload("net.udp_rr", {"sockperf_port": 9, "seconds": 0.2, "size": "1",
                                                 "tool": "sockperf"})
    assert (status, record["ok"]) == (1, False)
    assert record["error"] == ("RuntimeError: tool=sockperf cannot run: sockperf's smallest message is 14 bytes "
                               "(asked: 1)")


def test_a_tool_missing_where_the_client_runs_falls_back(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": str(tmp_path)}  # nothing on it: no iperf3
    status, record = run_workload("net.tcp_stream", {"iperf3_port": 9, "seconds": 0.2}, env=env)
    assert (status, record["ok"]) == (0, True), record.get("error")
    assert record["info"]["tool_fallback"] == "iperf3 is not installed where the client runs"
    status, record = run_workload("net.tcp_stream", {"iperf3_port": 9, "seconds": 0.2, "tool": "iperf3"}, env=env)
    assert record["error"] == "RuntimeError: tool=iperf3 cannot run: iperf3 is not installed where the client runs"


def test_a_tool_name_that_is_not_one_is_refused_before_running() -> None:
    status, record = run_workload("net.tcp_stream", {"tool": "netperf"})
    assert (status, record["ok"]) == (1, False)
    assert "tool" in record["error"] and "one of auto, iperf3, python" in record["error"]


# --- how the tools fail ----------------------------------------------------------------------------------------

@needs_iperf3
def test_iperf3_refused_says_so_although_it_exits_0() -> None:
    status, record = run_workload("net.tcp_stream", {"iperf3_port": free_port(), "seconds": 1})
    assert (status, record["ok"]) == (1, False)
    assert record["error"] == "RuntimeError: iperf3: unable to connect to server: Connection refused"


@needs_sockperf
def test_sockperf_refused_says_so_although_it_exits_0() -> None:
    status, record = run_workload("net.tcp_rr", {"sockperf_port": free_port(), "seconds": 1, "request": "14",
                                                 "response": "14"})
    assert (status, record["ok"]) == (1, False)
    assert "Connection refused" in record["error"] and record["error"].startswith("RuntimeError: sockperf")


def test_an_iperf3_that_prints_no_json_is_a_clear_error(tmp_path: Path) -> None:
    env = stand_in(tmp_path, "iperf3", "echo 'iperf3: parameter error - bad option' \n")
    status, record = run_workload("net.tcp_stream", {"iperf3_port": 9, "seconds": 1}, env=env)
    assert record["error"] == "RuntimeError: iperf3 printed no JSON report: iperf3: parameter error - bad option"


def test_a_sockperf_that_fails_is_an_error_with_its_words(tmp_path: Path) -> None:
    env = stand_in(tmp_path, "sockperf", "echo 'sockperf: ERROR: no such device' >&2\nexit 3\n")
    status, record = run_workload("net.udp_rr", {"sockperf_port": 9, "seconds": 1, "size": "14"}, env=env)
    assert record["error"] == "RuntimeError: sockperf exited with status 3: sockperf: ERROR: no such device"


def test_a_tool_that_hangs_is_killed_at_its_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workloads.net import tools

    env = stand_in(tmp_path, "iperf3", "exec sleep 60\n")
    monkeypatch.setenv("PATH", env["PATH"])
    monkeypatch.setattr(tools, "GRACE_S", 0.5)
    with pytest.raises(TimeoutError, match=r"^iperf3 did not finish within 1.5 s$"):
        tools.iperf3_stream("127.0.0.1", 9, 0.3, 131072)
