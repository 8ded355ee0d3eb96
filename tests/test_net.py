"""The network suite end to end: loopback natively, and Docker's network paths with the client on the host or
in a peer container; docker-proxy watched where it carries a published port; nothing left behind."""
from __future__ import annotations

import json
import subprocess

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
params = { seconds = 0.3 }
[[workload]]
name = "rr"
use = "net.tcp_rr"
params = { seconds = 0.3, request = "100", response = "200" }
[[workload]]
name = "udp"
use = "net.udp_rr"
params = { seconds = 0.3 }
"""


def run(tmp_path, envs: str) -> tuple[subprocess.CompletedProcess, list[dict], str]:
    suite = tmp_path / "net.toml"
    suite.write_text(SUITE)
    done = subprocess.run([*VBENCH, "run", "--suite", str(suite), "--env", envs, "--results",
                           str(tmp_path / "res"), "--scratch", str(tmp_path / "scratch")], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    runs = list((tmp_path / "res").glob("*"))
    trials = [json.loads(line) for line in (runs[0] / "trials.jsonl").read_text().splitlines()] if runs else []
    return done, trials, runs[0].name if runs else ""


def test_loopback_natively(tmp_path):
    done, trials, _ = run(tmp_path, "native")
    assert done.returncode == 0, done.stderr
    assert len(trials) == 6 and all(t["status"] == "ok" for t in trials), [t["error"] for t in trials]
    assert all(t["metrics"][t["primary"]]["value"] > 0 for t in trials)
    assert not any("in-process-server" in t["flags"] for t in trials)  # a real server process, not in-process


@pytest.mark.docker
def test_docker_network_paths_and_cleanup(tmp_path):
    from conftest import require_environment

    require_environment("docker")
    done, trials, run_id = run(tmp_path, "native,dockernet:bridge,dockernet:published,dockernet:c2c-user-bridge")
    assert done.returncode == 0, done.stderr
    assert all(t["status"] == "ok" for t in trials), [t["error"] for t in trials if t["status"] != "ok"]
    assert {t["environment"] for t in trials} == {"native", "dockernet:bridge", "dockernet:published",
                                                 "dockernet:c2c-user-bridge"}
    published = [t for t in trials if t["environment"] == "dockernet:published"]
    assert all(t["collectors"]["helpers"]["pids"] for t in published)  # docker-proxy was watched
    meta = json.loads(next((tmp_path / "res").glob("*/run.json")).read_text())
    assert meta["env_fingerprints"]["dockernet:published"]["userland_proxy"]
    assert "docker-proxy" in meta["env_fingerprints"]["dockernet:published"]["path"]
    for kind in (["ps", "-a", "-q"], ["volume", "ls", "-q"], ["network", "ls", "-q"]):
        out = subprocess.run(["docker", *kind, "--filter", f"label=vbench.run={run_id}"], capture_output=True,
                             text=True, check=True).stdout
        assert out.split() == [], f"docker {kind[0]} left behind"


def test_host_address_is_not_loopback():
    from vbench.envs.base import free_port
    from vbench.envs.dockernet import host_address

    assert not host_address().startswith("127.")
    assert 0 < free_port() < 65536


@pytest.mark.vm
def test_vm_user_networking(tmp_path):
    from conftest import require_environment

    require_environment("vm")
    done, trials, run_id = run(tmp_path, "native,vm:usernet")
    assert done.returncode == 0, done.stderr
    vm = [t for t in trials if t["environment"] == "vm:usernet"]
    assert len(vm) == 6 and all(t["status"] == "ok" for t in vm), [t["error"] for t in vm]
    meta = json.loads(next((tmp_path / "res").glob("*/run.json")).read_text())
    assert meta["env_fingerprints"]["vm:usernet"]["accelerator"] in ("kvm", "tcg")
