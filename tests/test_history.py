"""This host's run history (vbench.history) and the time estimates ``vbench list`` makes from it."""
from __future__ import annotations

import json
import os
import subprocess

import pytest

from conftest import ROOT, VBENCH
from vbench import history
from vbench.console.listing import time_text
from vbench.model import RunMeta
from vbench.run.lifecycle import remember


@pytest.fixture
def state(tmp_path, monkeypatch):
    monkeypatch.setenv("VBENCH_STATE", str(tmp_path / "state"))
    return tmp_path / "state"


def meta(**changes) -> RunMeta:
    base = dict(vbench_version="0", started_at="2026-12-07T01:00:00.000+00:00", status="complete",
                suite={"name": "io", "quick": True}, seed=1, environments=("native", "docker:volume"),
                ended_at="2026-12-07T01:10:30.500+00:00", rounds={"done": 8})
    return RunMeta(**{**base, **changes})


def test_a_complete_run_is_remembered_with_its_wall_time(state):
    remember(meta())
    assert history.last_runs()[("io", True)] == {
        "suite": "io", "quick": True, "environments": ["native", "docker:volume"], "wall_s": 630.5, "rounds": 8,
        "ended_at": "2026-12-07T01:10:30.500+00:00"}


@pytest.mark.parametrize("changes", [{"status": "interrupted"}, {"status": "failed"},
                                     {"resumed_at": ("2026-12-07T02:00:00.000+00:00",)}, {"ended_at": None}])
def test_an_unfinished_or_resumed_run_is_not_an_estimate(state, changes):
    remember(meta(**changes))
    assert history.last_runs() == {}


def test_the_newest_run_per_suite_and_size_wins_and_a_torn_line_is_skipped(state):
    history.record({"suite": "io", "quick": False, "wall_s": 1500.0})
    history.record({"suite": "io", "quick": True, "wall_s": 600.0})
    history.record({"suite": "io", "quick": False, "wall_s": 1400.0})
    with history.path().open("a") as f:
        f.write('{"suite": "io", "quick": fal')  # a run killed while writing its line
    newest = history.last_runs()
    assert newest[("io", False)]["wall_s"] == 1400.0 and newest[("io", True)]["wall_s"] == 600.0


def test_the_file_is_cut_to_its_newest_lines(state):
    for i in range(2 * history.KEEP + 1):
        history.record({"suite": "cpu", "quick": False, "wall_s": float(i)})
    lines = history.path().read_text().splitlines()
    assert len(lines) == history.KEEP
    assert json.loads(lines[-1])["wall_s"] == 2 * history.KEEP
    assert not list(state.glob(".*.tmp"))


def test_an_unwritable_history_does_not_fail_the_run(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("VBENCH_STATE", str(blocker / "state"))  # under a file: mkdir fails
    history.record({"suite": "cpu", "quick": False, "wall_s": 1.0})
    assert history.last_runs() == {}


def test_time_text_gives_the_budget_and_the_last_run_here():
    text = time_text({"full": {"budget_s": 1500, "last_s": 1458.0, "last_environments": ["native", "vm:virtio"]},
                      "quick": {"budget_s": 600, "last_s": None, "last_environments": None}})
    assert text == "full rounds up to 25 min, last run here 24 min (2 environments); quick rounds up to 10 min"


def test_list_estimates_a_suite_from_this_hosts_last_run(tmp_path):
    env = {**os.environ, "VBENCH_STATE": str(tmp_path / "state")}

    def listed() -> dict:
        done = subprocess.run([*VBENCH, "list", "--format", "json"], capture_output=True, text=True, cwd=ROOT,
                              env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        return next(s for s in json.loads(done.stdout)["suites"] if s["suite"] == "cpu")["time"]

    assert listed()["quick"]["last_s"] is None
    done = subprocess.run([*VBENCH, "run", "--suite", "cpu", "--quick", "--env", "native", "--no-aa",
                           "--min-rounds", "1", "--max-rounds", "1", "--output", str(tmp_path / "res")],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    after = listed()
    assert after["quick"]["last_s"] > 0 and after["quick"]["last_environments"] == ["native"]
    assert after["full"]["last_s"] is None and after["full"]["budget_s"] > after["quick"]["budget_s"]
