"""The vm environment end to end: a real QEMU guest (TCG here, KVM where a probe boot works), its accelerator
recorded in every trial, and nothing left behind after a normal run or SIGINT during a VM trial.

In CI (CI=true) QEMU and the guest disk must be there: unavailable fails instead of skipping.
"""
from __future__ import annotations

import json
import signal
import subprocess
import time

import psutil
import pytest

from conftest import ROOT, VBENCH, default_sigint, require_environment

pytestmark = pytest.mark.vm

require_environment("vm")

SUITE = """
name = "vmtest"
[plan]
warmup_rounds = 0
min_rounds = {rounds}
max_rounds = {rounds}
timeout_s = 300
[[workload]]
name = "sha"
use = "cpu.sha256"
params = {{ seconds = {seconds}, size = "64k" }}
"""


def leftovers(run_id: str) -> list[str]:
    """QEMU or virtiofsd processes, and vbench temp dirs, that belong to ``run_id``."""
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if proc.info["name"] in ("qemu-system-x86_64", "virtiofsd") and run_id in cmdline:
            found.append(f"process {proc.pid}: {cmdline[:120]}")
    return found


def start(tmp_path, rounds: int, seconds: float) -> subprocess.Popen:
    suite = tmp_path / "vm.toml"
    suite.write_text(SUITE.format(rounds=rounds, seconds=seconds))
    return subprocess.Popen([*VBENCH, "run", "--suite", str(suite), "--env", "native,vm:virtio", "--output",
                             str(tmp_path / "res"), "--scratch", str(tmp_path / "scratch")], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)


def test_vm_run_records_the_accelerator_and_cleans_up(tmp_path):
    proc = start(tmp_path, rounds=2, seconds=0.2)
    stdout, stderr = proc.communicate(timeout=900)
    assert proc.returncode == 0, stderr
    run = next((tmp_path / "res").iterdir())
    meta = json.loads((run / "run.json").read_text())
    fp = meta["env_fingerprints"]["vm:virtio"]
    assert fp["accelerator"] in ("kvm", "tcg") and fp["accelerator_reason"] and fp["boot_s"] > 0
    assert fp["emulation"] == (fp["accelerator"] == "tcg")
    trials = [json.loads(line) for line in (run / "trials.jsonl").read_text().splitlines()]
    vm_trials = [t for t in trials if t["environment"] == "vm:virtio"]
    assert len(vm_trials) == 2 and all(t["status"] == "ok" for t in vm_trials)
    assert all(t["accelerator"] == fp["accelerator"] for t in vm_trials)
    assert all(t["guest_wall_s"] > 0 and t["collectors"]["psutil"]["cpu_user_s"] >= 0 for t in vm_trials)
    assert "accelerator" in stdout
    if fp["accelerator"] == "tcg":
        assert "TCG emulation" in stdout
    assert leftovers(run.name) == [] and list((tmp_path / "scratch").iterdir()) == []


def test_sigint_during_a_vm_trial_leaves_no_qemu_and_no_image(tmp_path):
    proc = start(tmp_path, rounds=20, seconds=3.0)
    deadline = time.monotonic() + 600
    run_id = None
    while time.monotonic() < deadline and proc.poll() is None:
        found = list((tmp_path / "res").glob("*/trials.jsonl"))
        if found and any('"vm:virtio"' in line for line in found[0].read_text().splitlines()):
            run_id = found[0].parent.name
            break
        time.sleep(0.2)
    assert run_id, proc.communicate()[1] if proc.poll() is not None else "no VM trial finished"
    time.sleep(1.0)  # the next trial is in flight, in the guest or natively
    assert leftovers(run_id), "the guest should be running"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert leftovers(run_id) == []
    assert list((tmp_path / "scratch").iterdir()) == []
