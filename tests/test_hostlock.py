"""One measuring run per host: the lock itself (a second holder refused, a killed holder's lock taken over), and
two real runs of the command, one refused, one measuring beside the other with --allow-concurrent."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import ROOT, VBENCH, default_sigint
from vbench.hostlock import HostBusy, HostLock, held_by, measuring


def test_a_second_holder_is_refused_naming_the_first(tmp_path):
    first, second = HostLock(tmp_path / "lock"), HostLock(tmp_path / "lock")
    assert first.acquire("run-a", tmp_path / "res" / "run-a", "2026-12-06T10:00:00") is None
    with pytest.raises(HostBusy) as refused:
        second.acquire("run-b", tmp_path / "res" / "run-b", "2026-12-06T10:01:00")
    said = str(refused.value)
    assert "run run-a" in said and f"pid {os.getpid()}" in said and "2026-12-06T10:00:00" in said
    assert str(tmp_path / "res" / "run-a") in said and "--allow-concurrent" in said and "\n" not in said
    assert held_by(tmp_path / "lock")["run_id"] == "run-a"
    first.release()
    assert held_by(tmp_path / "lock") is None
    assert second.acquire("run-b", tmp_path, "now") is None  # given back and cleared: nothing taken over
    second.release()


HOLDER = """
import sys, time
from pathlib import Path
from vbench.hostlock import HostLock
lock = HostLock(Path(sys.argv[1]))
lock.acquire("killed-run", "/somewhere/killed-run", "2026-12-06T09:00:00")
print("held", flush=True)
time.sleep(600)
"""


def test_the_lock_of_a_killed_holder_is_taken_over_and_said(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "lock")], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(HostBusy, match=f"run killed-run \\(pid {holder.pid},"):
            HostLock(tmp_path / "lock").acquire("mine", tmp_path, "now")
    finally:
        holder.kill()  # SIGKILL: no release runs, the record stays; the kernel gives the flock back
        holder.wait(timeout=30)
    lock = HostLock(tmp_path / "lock")
    note = lock.acquire("mine", tmp_path, "now")
    assert note is not None and "took over" in note and f"pid {holder.pid}" in note and "no longer running" in note
    lock.release()


def test_allow_concurrent_measures_without_the_lock_and_names_the_holder(tmp_path, monkeypatch):
    monkeypatch.setenv("VBENCH_STATE", str(tmp_path))
    said: list[str] = []
    with measuring("run-a", tmp_path, "then", False, said.append) as first:
        assert first is None
        with pytest.raises(HostBusy):
            with measuring("run-b", tmp_path, "now", False, said.append):
                pass
        with measuring("run-c", tmp_path, "now", True, said.append) as beside:
            assert beside is not None and beside["run_id"] == "run-a"
    assert len(said) == 1 and "measuring beside run run-a" in said[0] and "concurrent-run" in said[0]
    assert held_by(tmp_path / "measuring.lock") is None  # the holder gave it back; run-c never held it


SLOW = ('name = "slow"\nenvironments = ["native"]\n[plan]\nwarmup_rounds = 0\nmin_rounds = 200\nmax_rounds = 200\n'
        '[[workload]]\nuse = "cpu.pyloop"\nparams = { seconds = 0.2 }\n')
QUICK = ('name = "quick"\nenvironments = ["native"]\n[plan]\nwarmup_rounds = 0\nmin_rounds = 6\nmax_rounds = 6\n'
         '[[workload]]\nuse = "cpu.pyloop"\nparams = { seconds = 0.05 }\n')


def test_a_second_run_is_refused_in_one_line_and_allow_concurrent_flags_every_trial(tmp_path):
    (tmp_path / "slow.toml").write_text(SLOW)
    (tmp_path / "quick.toml").write_text(QUICK)
    first = subprocess.Popen([*VBENCH, "run", "--suite", str(tmp_path / "slow.toml"), "--output",
                              str(tmp_path / "first"), "--scratch", str(tmp_path / "scratch"), "--run-id", "first-run",
                              "--no-aa", "--no-slices"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, preexec_fn=default_sigint)
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "first" / "first-run" / "trials.jsonl").exists():
            assert first.poll() is None and time.monotonic() < deadline, first.communicate()[1][-2000:]
            time.sleep(0.1)
        second = [*VBENCH, "run", "--suite", str(tmp_path / "quick.toml"), "--output", str(tmp_path / "second"),
                  "--scratch", str(tmp_path / "scratch"), "--no-aa"]
        refused = subprocess.run(second, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert refused.returncode == 1, refused.stderr
        lines = refused.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in refused.stderr, refused.stderr
        assert "run first-run" in lines[0] and f"pid {first.pid}" in lines[0]
        assert str(tmp_path / "first" / "first-run") in lines[0] and "--allow-concurrent" in lines[0]
        assert not (tmp_path / "second").exists() or not any((tmp_path / "second").iterdir())  # nothing began

        beside = subprocess.run([*second, "--allow-concurrent"], cwd=ROOT, capture_output=True, text=True,
                                timeout=300)
        assert beside.returncode == 0, beside.stderr[-2000:]
        assert "measuring beside run first-run" in beside.stderr
        trials = [json.loads(line) for run in (tmp_path / "second").iterdir()
                  for line in (run / "trials.jsonl").read_text().splitlines()]
        assert len(trials) == 6 and all("concurrent-run" in t["flags"] for t in trials)
        assert "6 trials flagged (all kept in the analysis): concurrent-run 6" in beside.stdout
        meta = json.loads(next((tmp_path / "second").glob("*/run.json")).read_text())
        assert meta["concurrent_with"]["run_id"] == "first-run" and meta["concurrent_with"]["pid"] == first.pid
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=120)
    assert held_by(Path(os.environ["VBENCH_STATE"]) / "measuring.lock") is None  # the first gave it back
