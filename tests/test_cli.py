"""The vbench command through a subprocess: runs, listings, doctor, and one-line errors for bad input."""
from __future__ import annotations

import subprocess

import pytest

from conftest import ROOT, VBENCH, default_sigint


def vbench(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*VBENCH, *args], capture_output=True, text=True, cwd=cwd or ROOT, timeout=300)


def test_run_writes_results_and_prints_a_summary(tmp_path, tiny_suite):
    done = vbench("run", "--suite", str(tiny_suite), "--results", str(tmp_path / "res"),
                  "--scratch", str(tmp_path / "scratch"), "--seed", "3")
    assert done.returncode == 0, done.stderr
    runs = list((tmp_path / "res").iterdir())
    assert len(runs) == 1 and (runs[0] / "trials.jsonl").is_file()
    assert "tiny suite" in done.stdout and "sha" in done.stdout and "loop" in done.stdout
    assert "ETA" in done.stderr  # the progress bar


def test_list_shows_suites_workloads_and_environments():
    done = vbench("list")
    assert done.returncode == 0, done.stderr
    for word in ("io", "cpu.sha256", "io.fio", "native", "usernet, tap"):
        assert word in done.stdout


def test_doctor_reports_every_check():
    done = vbench("doctor")
    assert done.returncode == 0, done.stderr
    for word in ("fio", "O_DIRECT", "docker", "qemu", "accelerator", "env native", "tap network"):
        assert word in done.stdout


@pytest.mark.parametrize("args, message", [
    (["run", "--suite", "nosuch"], "unknown suite"),
    (["run", "--suite", "cpu", "--env", "hyperv"], "unknown environment 'hyperv'"),
    (["run", "--suite", "cpu", "--env", "native:fast"], "unknown variant"),
    (["run", "--suite", "cpu", "--rounds", "0"], "min_rounds"),
    (["run", "--suite", "cpu", "--interval", "0"], "--interval"),
    (["run", "--suite", "/nonexistent/suite.toml"], "cannot read suite"),
])
def test_bad_input_gives_one_line_and_exit_1(args, message):
    done = vbench(*args)
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_usage_errors_exit_2():
    done = vbench("run", "--suite", "cpu", "--rounds", "many")
    assert done.returncode == 2 and "--rounds" in done.stderr
    missing = vbench("run")
    assert missing.returncode == 1 and "--suite is required" in missing.stderr


def test_sigint_keeps_finished_trials(tmp_path):
    import signal
    import time

    slow = tmp_path / "slow.toml"
    slow.write_text('name = "slow"\n[plan]\nwarmup_rounds = 0\nmin_rounds = 50\nmax_rounds = 50\n'
                    '[[workload]]\nuse = "cpu.pyloop"\nparams = { seconds = 0.1 }\n')
    proc = subprocess.Popen([*VBENCH, "run", "--suite", str(slow), "--results", str(tmp_path / "res"),
                             "--scratch", str(tmp_path / "scratch")], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    trials = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = list((tmp_path / "res").glob("*/trials.jsonl"))
        if found and len(found[0].read_text().splitlines()) >= 3:
            trials = found[0]
            break
        time.sleep(0.1)
    assert trials is not None, "no trials were written"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
    import json
    meta = json.loads((trials.parent / "run.json").read_text())
    assert meta["status"] == "interrupted"
    assert len(trials.read_text().splitlines()) >= 3
    assert list((tmp_path / "scratch").iterdir()) == []  # the scratch directory was removed


def test_compare_gates_on_a_significant_regression():
    from conftest import DATA

    base = str(next((DATA / "compare").glob("*-1cbe")))
    same = vbench("compare", base, base, "--fail-above", "5")
    assert same.returncode == 0 and "no significant change" in same.stdout
    slowed = vbench("compare", base, base + "-slowed", "--fail-above", "10")
    assert slowed.returncode == 3, slowed.stderr
    assert "regression" in slowed.stdout and "sha256" in slowed.stderr and "Traceback" not in slowed.stderr
    assert vbench("compare", base, base + "-slowed", "--fail-above", "60").returncode == 0


def test_compare_of_a_non_run_is_one_line(tmp_path):
    done = vbench("compare", str(tmp_path), str(tmp_path))
    assert done.returncode == 1 and "not a vbench run" in done.stderr and len(done.stderr.splitlines()) == 1
