"""The docker environment against the real engine: cgroup block I/O, the Engine API cross-check, cleanup.

In CI (CI=true) the engine must be there: an unavailable engine fails these tests instead of skipping them.
"""
from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from conftest import ROOT, VBENCH, default_sigint, require_environment
from vbench import envs
from vbench.envs.base import Context
from vbench.run.options import Bench, RunOptions
from vbench.run.record import to_trial
from vbench.run.whole import measure
from vbench.model import Case
from vbench.store import to_record

pytestmark = pytest.mark.docker

require_environment("docker")


def labelled(kind: str, run_id: str) -> list[str]:
    """Names of docker objects of ``kind`` (ps -a, volume ls, network ls) carrying the run's label."""
    argv = {"container": ["docker", "ps", "-a", "-q"], "volume": ["docker", "volume", "ls", "-q"],
            "network": ["docker", "network", "ls", "-q"]}[kind]
    out = subprocess.run([*argv, "--filter", f"label=vbench.run={run_id}"], capture_output=True, text=True,
                         check=True).stdout
    return out.split()


def assert_nothing_left(run_id: str) -> None:
    for kind in ("container", "volume", "network"):
        assert labelled(kind, run_id) == [], f"{kind}s of {run_id} were left behind"


def test_cgroup_block_io_matches_what_fio_wrote(tmp_path):
    spec, cls = envs.resolve("docker:volume")
    case = Case("w", "io.fio", {"rw": "write", "bs": "1M", "iodepth": 4, "size": "64M", "runtime": 1.0,
                                "direct": "on"}, spec)
    with cls(spec, Context("blkio-check", str(tmp_path / "scratch"), {"blkio_accounting": True})) as env:
        trial = to_record(to_trial(measure(env, case, 1, Bench({case.env.label: env}, 120, RunOptions())), 0))
        assert env.fingerprint()["blkio_counting_rule"]["device"].startswith("/dev/")
    assert trial["status"] == "ok", trial["error"]
    mode = trial["info"]["io_mode"]
    assert mode.startswith("direct; host: a volume on ") and not mode.endswith("unknown")
    cgroup, engine = trial["collectors"]["cgroup"], trial["collectors"]["engine"]
    # fio's direct writes are always the container's; its buffered layout of the file is only when the writeback
    # happens in the container's context (cgroup v1 gives a kworker's writeback to no container): seen both ways.
    direct, layout = trial["info"]["write_bytes"], trial["info"].get("layout_bytes", 0)
    assert 0.95 * direct <= cgroup["io_write_bytes"] <= 1.05 * (direct + layout)
    assert engine["io_write_bytes"] == pytest.approx(cgroup["io_write_bytes"], rel=0.02)
    assert cgroup["cpu_usage_s"] > 0 and cgroup["memory_max_bytes"] > 0
    assert trial["collectors"]["psutil"]["cpu_user_s"] is not None
    assert_nothing_left("blkio-check")


def test_fingerprint_names_driver_runtime_and_image(tmp_path):
    spec, cls = envs.resolve("docker:layer")
    with cls(spec, Context("fp-check", str(tmp_path))) as env:
        fp = env.fingerprint()
        io = env.execute({"workload": "io.fsync", "params": {"seconds": 0.1}}, 60).result()
        assert io["ok"]
    # without --blkio-accounting no throttle rule is set, and cgroup v1 block I/O is left out, not zero
    assert fp["blkio_counting_rule"] is None
    if fp["cgroup_version"] == "1":
        assert "blkio" not in env.cgroup_paths and not fp["blkio_accounting"]
    assert fp["storage_driver"] and fp["runtime"] == "runc" and fp["image_id"].startswith("sha256:")
    assert fp["cgroup_version"] in ("1", "2") and fp["docker_version"]
    assert_nothing_left("fp-check")


def test_crun_runtime_when_it_works_here(tmp_path):
    import docker

    from vbench.envs.docker import probe_runtime
    from vbench.images import guest_image

    client = docker.from_env()
    usable, reason = probe_runtime(client, "crun", guest_image().tag)
    client.close()
    assert reason and labelled("container", "runtime-probe") == []
    if not usable:
        pytest.skip(f"crun cannot run containers here: {reason}")
    spec, cls = envs.resolve("docker:tmpfs")
    with cls(spec, Context("crun-check", str(tmp_path), {"runtime": "crun"})) as env:
        result = env.execute({"workload": "cpu.sha256", "params": {"seconds": 0.05, "size": "64k"}}, 60).result()
        assert result["ok"] and env.fingerprint()["runtime"] == "crun"
    assert_nothing_left("crun-check")


SUITE = """
name = "dock"
[plan]
warmup_rounds = 0
min_rounds = {rounds}
max_rounds = {rounds}
[[workload]]
name = "loop"
use = "cpu.pyloop"
params = {{ seconds = 0.1 }}
[[workload]]
name = "sync"
use = "io.fsync"
params = {{ seconds = 0.1 }}
"""


def start_run(tmp_path, rounds: int) -> subprocess.Popen:
    suite = tmp_path / "dock.toml"
    suite.write_text(SUITE.format(rounds=rounds))
    return subprocess.Popen([*VBENCH, "run", "--suite", str(suite), "--no-aa", "--env",
                             "native,docker:layer,docker:volume,"
                             "docker:bind,docker:tmpfs", "--output", str(tmp_path / "res"), "--scratch",
                             str(tmp_path / "scratch")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, preexec_fn=default_sigint)


def test_every_variant_runs_and_nothing_is_left(tmp_path):
    proc = start_run(tmp_path, rounds=2)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, stderr
    run = next((tmp_path / "res").iterdir())
    trials = [json.loads(line) for line in (run / "trials.jsonl").read_text().splitlines()]
    assert {t["environment"] for t in trials} == {"native", "docker:layer", "docker:volume", "docker:bind",
                                                 "docker:tmpfs"}
    assert all(t["status"] == "ok" for t in trials), [t["error"] for t in trials if t["status"] != "ok"]
    for label in ("docker:layer", "docker:volume", "docker:bind", "docker:tmpfs"):
        assert label in stdout
    assert_nothing_left(run.name)
    assert list((tmp_path / "scratch").iterdir()) == []


def test_sigint_leaves_no_container_volume_or_network(tmp_path):
    proc = start_run(tmp_path, rounds=50)
    deadline = time.monotonic() + 180
    trials = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = list((tmp_path / "res").glob("*/trials.jsonl"))
        if found and len(found[0].read_text().splitlines()) >= 6:
            trials = found[0]
            break
        time.sleep(0.2)
    assert trials is not None, proc.stderr.read() if proc.poll() is not None else "no trials"
    run_id = trials.parent.name
    assert labelled("container", run_id)  # the containers exist while it runs
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    kept = trials.read_text().splitlines()
    assert len(kept) >= 6 and all(json.loads(line)["trial_id"] for line in kept)
    assert_nothing_left(run_id)
    assert list((tmp_path / "scratch").iterdir()) == []


def test_a_closed_worker_gives_its_engine_connection_back(tmp_path):
    """A sliced block's worker in a container talks over an attach socket: closing the worker closes that
    connection at once, not at some later garbage collection (a long run's descriptors grew with its blocks)."""
    import gc
    import os

    spec, cls = envs.resolve("docker:volume")
    with cls(spec, Context("worker-fds", str(tmp_path / "scratch"))) as env:
        env.open_worker().close()  # the client's connection pool is warm
        gc.collect()
        gc.disable()
        try:
            before = len(os.listdir("/proc/self/fd"))
            for _ in range(10):
                env.open_worker().close()
            grown = len(os.listdir("/proc/self/fd")) - before
        finally:
            gc.enable()
    assert grown <= 2, f"{grown} more descriptors after ten workers were opened and closed"
    assert_nothing_left("worker-fds")
