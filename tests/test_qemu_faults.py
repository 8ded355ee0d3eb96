"""Every way QEMU, its agent channel and virtiofsd have been seen to fail, made to happen for real by stand-in
executables (tests/standins) put first on PATH: the CLI run must end with the right message and exit status,
never a traceback, and leave nothing running.

The stand-ins need no guest image and no KVM: a fake image cache in the test's directory satisfies vbench's
checks, and QEMU is never the real one here. (The real QEMU's paths are covered by test_vm.py.)
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import psutil
import pytest

from conftest import ROOT, VBENCH

STANDINS = ROOT / "tests" / "standins"

SUITE = """
name = "standin"
{environments}
[plan]
warmup_rounds = 0
min_rounds = {rounds}
max_rounds = {rounds}
timeout_s = 20
[[workload]]
name = "loop"
use = "cpu.pyloop"
params = {{ seconds = {seconds} }}
"""


@pytest.fixture
def standin_env(tmp_path, monkeypatch) -> dict:
    """The environment of a vbench whose QEMU and virtiofsd are the stand-ins, with a fake guest image cache."""
    for tool in ("qemu-img", "mkfs.ext4"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} is not installed (./setup.sh installs it)")
    from vbench.images import guest_image

    monkeypatch.setenv("VBENCH_CACHE", str(tmp_path / "cache"))
    image = guest_image()
    boot = image.rootfs / "boot"
    boot.mkdir(parents=True)
    for name in ("vmlinuz-6.1.0-0-cloud-amd64", "initrd.img-6.1.0-0-cloud-amd64", "vmlinuz-6.1.0-0-amd64",
                 "initrd.img-6.1.0-0-amd64"):
        (boot / name).write_bytes(b"")
    image.disk.write_bytes(b"")
    return {**os.environ, "PATH": f"{STANDINS}:{os.environ['PATH']}", "VBENCH_CACHE": str(tmp_path / "cache"),
            "VBENCH_VIRTIOFSD": str(STANDINS / "virtiofsd")}


def vbench_run(tmp_path: Path, env: dict, *args: str, rounds: int = 2, seconds: float = 0.05,
               environments: str = "", **modes: str) -> tuple[subprocess.CompletedProcess, list[dict], dict]:
    suite = tmp_path / "standin.toml"
    suite.write_text(SUITE.format(environments=environments, rounds=rounds, seconds=seconds))
    done = subprocess.run([*VBENCH, "run", "--suite", str(suite), "--no-aa", "--output", str(tmp_path / "res"),
                           "--scratch", str(tmp_path / "scratch"), *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=300, env={**env, **modes})
    runs = list((tmp_path / "res").glob("*/run.json"))
    if not runs:
        return done, [], {}
    written = runs[0].parent / "trials.jsonl"
    trials = [json.loads(line) for line in written.read_text().splitlines()] if written.exists() else []
    return done, trials, json.loads(runs[0].read_text())


def assert_nothing_left(tmp_path: Path) -> None:
    """No stand-in process of this test still runs, and the scratch root is empty."""
    running = [p.pid for p in psutil.process_iter(["cmdline"]) if str(tmp_path) in " ".join(p.info["cmdline"] or [])
               and p.pid != os.getpid()]
    assert running == [], f"left running: {running}"
    scratch = tmp_path / "scratch"
    assert not scratch.exists() or list(scratch.iterdir()) == []


def one_error_line(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("vbench: error:")]
    assert len(errors) == 1, done.stderr
    return errors[0]


BOOT_FAILURES = {
    "exit": ["QEMU exited with status 1", "simulated failure to initialise the machine"],
    "abort": ["QEMU aborted (SIGABRT) during boot", "error: failed to set MSR 0x10a to 0x69",
              "kvm_buf_set_msrs: Assertion"],
    "killed": ["QEMU was killed by SIGKILL"],
    "reset": ["the guest agent's channel failed: Connection reset by peer during boot"],
    "close": ["the guest agent's port closed during boot"],
    "garbage": ["the guest agent sent a line that is not JSON"],
    "nosocket": ["QEMU did not open the agent port"],
    "silent": ["the guest agent did not answer in time"],
}


@pytest.mark.parametrize("mode", sorted(BOOT_FAILURES))
def test_a_named_vm_whose_boot_fails_is_a_one_line_error(mode, tmp_path, standin_env):
    done, trials, meta = vbench_run(tmp_path, standin_env, "--env", "native,vm:virtio", "--accel", "tcg",
                                    "--boot-timeout", "3", FAKE_QEMU=mode)
    line = one_error_line(done)
    assert done.returncode == 1 and line.startswith("vbench: error: vm:virtio: ")
    for words in BOOT_FAILURES[mode]:
        assert words in line
    assert trials == [] and meta["status"].startswith("failed")
    assert_nothing_left(tmp_path)


def test_a_default_vm_whose_boot_fails_is_skipped_and_the_run_goes_on(tmp_path, standin_env):
    done, trials, meta = vbench_run(tmp_path, standin_env, "--accel", "tcg", FAKE_QEMU="abort",
                                    environments='environments = ["native", "vm:virtio"]')
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    reason = meta["skipped_environments"]["vm:virtio"]
    assert reason.startswith("failed to start: vm:virtio: QEMU aborted (SIGABRT) during boot: error: failed to set MSR")
    assert f"skipped vm:virtio: {reason}"[:80] in done.stdout.replace("\n", "")
    assert {t["environment"] for t in trials} == {"native"} and all(t["status"] == "ok" for t in trials)
    assert meta["environments"] == ["native"]
    assert_nothing_left(tmp_path)


def require_kvm_device() -> None:
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        pytest.skip("/dev/kvm is absent or not accessible: vbench reports that without a probe boot")


def test_a_kvm_probe_that_aborts_falls_back_to_tcg_in_qemus_words(tmp_path, standin_env):
    require_kvm_device()
    done, trials, meta = vbench_run(tmp_path, standin_env, "--env", "native,vm:virtio", FAKE_QEMU_KVM="abort",
                                    FAKE_QEMU="agent")
    assert done.returncode == 0, done.stderr
    assert "probing KVM" in done.stderr and "Traceback" not in done.stderr
    fingerprint = meta["env_fingerprints"]["vm:virtio"]
    assert fingerprint["accelerator"] == "tcg" and fingerprint["emulation"] is True
    assert fingerprint["accelerator_reason"].startswith(
        "TCG software emulation, because KVM is unusable: QEMU aborted (SIGABRT) during boot: "
        "error: failed to set MSR 0x10a to 0x69")
    vm = [t for t in trials if t["environment"] == "vm:virtio"]
    assert len(vm) == 2 and all(t["status"] == "ok" and t["accelerator"] == "tcg" for t in vm)
    assert "vm:virtio (TCG emulation)" in done.stdout
    assert_nothing_left(tmp_path)


def test_kvm_asked_for_where_it_cannot_run_is_a_one_line_error_before_anything_runs(tmp_path, standin_env):
    require_kvm_device()
    done, trials, meta = vbench_run(tmp_path, standin_env, "--env", "native,vm", "--accel", "kvm",
                                    FAKE_QEMU_KVM="abort")
    line = one_error_line(done)
    assert done.returncode == 1
    assert line.startswith("vbench: error: KVM cannot run here: QEMU aborted (SIGABRT) during boot: error: failed "
                           "to set MSR 0x10a to 0x69")
    assert not (tmp_path / "res").exists() or list((tmp_path / "res").iterdir()) == []  # no run was started
    assert_nothing_left(tmp_path)


def test_the_probe_result_is_cached_and_doctor_shows_it(tmp_path, standin_env):
    require_kvm_device()
    env = {**standin_env, "FAKE_QEMU_KVM": "abort"}
    before = subprocess.run([*VBENCH, "doctor"], cwd=ROOT, capture_output=True, text=True, env=env, timeout=120)
    assert before.returncode == 0 and "not probed since this host booted" in before.stdout, before.stdout
    probed = subprocess.run([*VBENCH, "doctor", "--probe"], cwd=ROOT, capture_output=True, text=True, env=env,
                            timeout=120)
    assert probed.returncode == 0, probed.stderr
    flat = " ".join(probed.stdout.split())
    assert "KVM unusable: QEMU aborted (SIGABRT) during boot: error: failed to set MSR 0x10a to 0x69" in flat
    assert "warn  accelerator: KVM unusable" in probed.stdout  # a warning, and the bottom line says what it means
    assert "VMs will run under TCG software emulation, not KVM: their figures measure emulation" in flat
    after = subprocess.run([*VBENCH, "doctor"], cwd=ROOT, capture_output=True, text=True,
                           env={**env, "FAKE_QEMU_KVM": "agent"}, timeout=120)  # cached: no second boot
    assert "KVM unusable: QEMU aborted (SIGABRT)" in " ".join(after.stdout.split())
    assert_nothing_left(tmp_path)


TRIAL_FAILURES = {
    "trial-abort": "QEMU aborted (SIGABRT) during a trial: simulated abort during a trial",
    "trial-exit": "QEMU exited with status 3 during a trial: terminating on a simulated host error",
    "trial-close": "the guest agent's port closed",
    "trial-reset": "Connection reset by peer",
    "trial-garbage": "the guest agent sent a line that is not JSON",
    "trial-silent": "did not answer within 3s; it was killed",
}


@pytest.mark.parametrize("sliced", [False, True], ids=["whole-trials", "sliced"])
@pytest.mark.parametrize("mode", sorted(TRIAL_FAILURES))
def test_a_guest_failing_during_a_trial_fails_that_trial_and_the_run_goes_on(mode, sliced, tmp_path, standin_env):
    """Whole trials fail on the agent's exec; sliced ones on the warm worker's first request (vbench.slices)."""
    done, trials, meta = vbench_run(tmp_path, standin_env, "--env", "native,vm:virtio", "--accel", "tcg",
                                    "--timeout", "2", "--agent-grace", "1", *([] if sliced else ["--no-slices"]),
                                    rounds=3, FAKE_QEMU=mode)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert meta["slicing"] == {"loop": None if sliced else "slicing turned off (--no-slices)"}
    native = [t for t in trials if t["environment"] == "native"]
    vm = [t for t in trials if t["environment"] == "vm:virtio"]
    assert len(native) == 3 and all(t["status"] == "ok" for t in native)
    assert all(("slices" in t["info"]) == sliced for t in native)
    assert len(vm) == 3
    first, later = vm[0], vm[1:]
    assert first["status"] == ("timeout" if mode == "trial-silent" else "failed")
    assert TRIAL_FAILURES[mode] in first["error"], first["error"]
    assert all(t["status"] == "failed" and "environment vm:virtio stopped" in t["error"] for t in later)
    assert TRIAL_FAILURES[mode] in " ".join(done.stdout.split())
    assert_nothing_left(tmp_path)


def test_virtiofsd_that_fails_to_start_is_a_one_line_error(tmp_path, standin_env):
    done, _, _ = vbench_run(tmp_path, standin_env, "--env", "native,vm:virtiofs", "--accel", "tcg",
                            FAKE_VIRTIOFSD="fail")
    line = one_error_line(done)
    assert done.returncode == 1
    assert "vm:virtiofs: virtiofsd exited with status 1: virtiofsd: simulated failure" in line
    assert_nothing_left(tmp_path)


def test_virtiofsd_dying_mid_run_fails_the_trial_and_stops_the_vm(tmp_path, standin_env):
    done, trials, _ = vbench_run(tmp_path, standin_env, "--env", "native,vm:virtiofs", "--accel", "tcg",
                                 rounds=6, seconds=0.4, FAKE_QEMU="agent", FAKE_VIRTIOFSD="die",
                                 FAKE_VIRTIOFSD_AFTER="3")  # a sliced round takes both sides' time
    assert done.returncode == 0, done.stderr
    vm = [t for t in trials if t["environment"] == "vm:virtiofs"]
    failed = [t for t in vm if t["status"] != "ok"]
    assert vm[0]["status"] == "ok" and failed, [t["error"] for t in vm]
    assert "virtiofsd exited with status 1 during a trial: virtiofsd: simulated crash" in failed[0]["error"]
    assert all("stopped" in t["error"] for t in failed[1:])
    assert all(t["status"] == "ok" for t in trials if t["environment"] == "native")
    assert_nothing_left(tmp_path)


def test_a_sliced_trial_runs_through_the_guest_agent(tmp_path, standin_env):
    """The warm worker behind the agent (a "work" request per slice) gives a figure like any other trial's;
    the stand-in's agent runs on the host, so only the path is tested here, not a VM's speed."""
    done, trials, meta = vbench_run(tmp_path, standin_env, "--env", "native,vm:virtio", "--accel", "tcg", rounds=2)
    assert done.returncode == 0, done.stderr
    assert meta["slicing"] == {"loop": None}
    assert len(trials) == 4 and all(t["status"] == "ok" for t in trials), [t["error"] for t in trials]
    for trial in trials:
        sliced = trial["info"]["slices"]
        assert sliced["order"].split() in (["native", "vm:virtio", "vm:virtio", "native"],
                                           ["vm:virtio", "native", "native", "vm:virtio"])
        assert sliced["count"] >= 2 * 2 and sliced["calls_per_slice"] >= 1  # two kept cycles at the least
        assert trial["metrics"]["ops"]["value"] > 0
    assert_nothing_left(tmp_path)
