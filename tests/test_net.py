"""The network suite end to end: loopback natively, and Docker's network paths with the client on the host or
in a peer container; docker-proxy watched where it carries a published port; nothing left behind."""
from __future__ import annotations

import json
import subprocess
import time

import psutil

import pytest

from conftest import ROOT, VBENCH

SUITE = """
name = "nettest"
[plan]
warmup_rounds = 0
min_rounds = 2
max_rounds = 2
timeout_s = 60
[[workload]]
name = "stream"
use = "net.tcp_stream"
params = { seconds = 1 }
[[workload]]
name = "rr"
use = "net.tcp_rr"
params = { seconds = 1, request = "14", response = "14" }
[[workload]]
name = "udp"
use = "net.udp_rr"
params = { seconds = 0.3 }
"""
# the client each case runs where both ends have the tools (setup.sh, the guest image): udp's one-byte datagram
# is below sockperf's smallest message, so it is the stdlib client, labelled as the fallback
TOOLS = {"stream": "iperf3", "rr": "sockperf", "udp": "python"}


def check_tools(trials: list[dict]) -> None:
    """Every trial ran the client its case should, and says so; the fallback is flagged with why."""
    for t in trials:
        assert t["info"]["tool"] == TOOLS[t["case"]], (t["environment"], t["case"], t["info"])
        assert ("stdlib-fallback" in t["flags"]) == (t["case"] == "udp"), (t["environment"], t["flags"])
    assert all(t["info"]["tool_fallback"].startswith("sockperf's smallest message") for t in trials
               if t["case"] == "udp")


def run(tmp_path, envs: str) -> tuple[subprocess.CompletedProcess, list[dict], str]:
    suite = tmp_path / "net.toml"
    suite.write_text(SUITE)
    done = subprocess.run([*VBENCH, "run", "--suite", str(suite), "--env", envs, "--no-aa", "--output",
                           str(tmp_path / "res"), "--scratch", str(tmp_path / "scratch")], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    runs = list((tmp_path / "res").glob("*"))
    trials = [json.loads(line) for line in (runs[0] / "trials.jsonl").read_text().splitlines()] if runs else []
    return done, trials, runs[0].name if runs else ""


def tool_servers() -> set[int]:
    return {p.pid for p in psutil.process_iter(["name"]) if p.info["name"] in ("iperf3", "sockperf")}


def test_loopback_natively(tmp_path):
    before = tool_servers()
    done, trials, _ = run(tmp_path, "native")
    assert done.returncode == 0, done.stderr
    assert len(trials) == 6 and all(t["status"] == "ok" for t in trials), [t["error"] for t in trials]
    assert all(t["metrics"][t["primary"]]["value"] > 0 for t in trials)
    assert not any("in-process-server" in t["flags"] for t in trials)  # a real server process, not in-process
    check_tools(trials)
    assert tool_servers() <= before  # the native environment stopped the tool servers it started


@pytest.mark.docker
def test_docker_network_paths_and_cleanup(tmp_path):
    from conftest import require_environment

    require_environment("docker")
    done, trials, run_id = run(tmp_path, "native,dockernet:bridge,dockernet:published,dockernet:c2c-user-bridge")
    assert done.returncode == 0, done.stderr
    assert all(t["status"] == "ok" for t in trials), [t["error"] for t in trials if t["status"] != "ok"]
    assert {t["environment"] for t in trials} == {"native", "dockernet:bridge", "dockernet:published",
                                                 "dockernet:c2c-user-bridge"}
    check_tools(trials)
    published = [t for t in trials if t["environment"] == "dockernet:published"]
    assert all(t["collectors"]["helpers"]["pids"] for t in published)  # docker-proxy was watched
    meta = json.loads(next((tmp_path / "res").glob("*/run.json")).read_text())
    assert meta["env_fingerprints"]["dockernet:published"]["userland_proxy"]
    assert set(meta["env_fingerprints"]["dockernet:published"]["tool_ports"]) == {"iperf3_port", "sockperf_port"}
    assert "docker-proxy" in meta["env_fingerprints"]["dockernet:published"]["path"]
    for kind in (["ps", "-a", "-q"], ["volume", "ls", "-q"], ["network", "ls", "-q"]):
        out = subprocess.run(["docker", *kind, "--filter", f"label=vbench.run={run_id}"], capture_output=True,
                             text=True, check=True).stdout
        assert out.split() == [], f"docker {kind[0]} left behind"


@pytest.mark.docker
def test_a_container_to_container_client_that_hangs_is_a_timeout(tmp_path):
    """The peer container's client runs under coreutils' timeout: a client that never ends is killed at the
    trial's timeout and the trial says timeout, not a bare failure."""
    from conftest import require_environment
    from vbench import envs
    from vbench.envs.base import Context

    require_environment("docker")
    spec, cls = envs.resolve("dockernet:c2c-user-bridge")
    with cls(spec, Context("c2c-hang", str(tmp_path / "scratch"))) as env:
        start = time.monotonic()
        hung = env.client_transport(["sleep", "60"], timeout=2.0, on_start=None)
        waited = time.monotonic() - start
        quick = env.client_transport(["true"], timeout=2.0, on_start=None)
    assert hung.timed_out and hung.returncode == 137 and waited < 30
    assert not quick.timed_out and quick.returncode == 0


def test_host_address_is_not_loopback():
    from vbench.envs.base import free_port
    from vbench.envs.dockernet import host_address

    assert not host_address().startswith("127.")
    assert 0 < free_port() < 65536


def namespaces() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.startswith("vbench-")}


@pytest.mark.vm
def test_vm_user_and_tap_networking(tmp_path):
    from conftest import require_environment

    require_environment("vm")
    before = namespaces()
    done, trials, run_id = run(tmp_path, "native,vm:usernet,vm:tap")
    assert done.returncode == 0, done.stderr
    for label in ("vm:usernet", "vm:tap"):
        vm = [t for t in trials if t["environment"] == label]
        assert len(vm) == 6 and all(t["status"] == "ok" for t in vm), [t["error"] for t in vm]
        check_tools(vm)
    meta = json.loads(next((tmp_path / "res").glob("*/run.json")).read_text())
    prints = meta["env_fingerprints"]
    assert prints["vm:usernet"]["accelerator"] in ("kvm", "tcg")
    assert "hostfwd 127.0.0.1" in prints["vm:usernet"]["network"]
    assert prints["vm:tap"]["network"].startswith("tap vtap0 on bridge vbr0")
    assert namespaces() == before  # the bridge, the tap and their namespace went with the VM


TAP_KILLED = """
name = "tapkilled"
[plan]
warmup_rounds = 0
min_rounds = 30
max_rounds = 30
timeout_s = 60
[[workload]]
name = "rr"
use = "net.tcp_rr"
params = { seconds = 1.0 }
"""


@pytest.mark.vm
def test_a_killed_tap_run_leaves_nothing_after_clean(tmp_path):
    from conftest import require_environment

    require_environment("vm")
    before = namespaces()
    suite = tmp_path / "tap.toml"
    suite.write_text(TAP_KILLED)
    proc = subprocess.Popen([*VBENCH, "run", "--suite", str(suite), "--env", "native,vm:tap", "--output",
                             str(tmp_path / "res"), "--scratch", str(tmp_path / "scratch")], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and proc.poll() is None:
        found = list((tmp_path / "res").glob("*/trials.jsonl"))
        if found and '"vm:tap"' in found[0].read_text():
            break
        time.sleep(0.2)
    else:
        raise AssertionError(f"no vm:tap trial was written: {proc.communicate()[1][-500:]}")
    left = namespaces() - before
    assert len(left) == 1, "the running tap VM has its namespace"
    proc.kill()  # no teardown: QEMU and the namespace stay behind for the reaper
    proc.wait()
    done = subprocess.run([*VBENCH, "clean"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and f"network namespace {left.pop()}" in done.stdout, done.stdout + done.stderr
    assert namespaces() == before

    def ours() -> list[int]:
        return [p.pid for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])]

    deadline = time.monotonic() + 10
    while ours() and time.monotonic() < deadline:
        time.sleep(0.2)  # SIGKILLed processes take a moment to go
    assert ours() == []


def test_a_published_port_names_docker_proxy_only_when_one_carries_it():
    from vbench.envs.dockernet import PATHS, path_of

    assert "docker-proxy" in path_of("published", [1234])
    assert "docker-proxy ->" not in path_of("published", []) and "userland proxy is off" in path_of("published", [])
    assert path_of("bridge", []) == PATHS["bridge"]
