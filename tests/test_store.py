"""The result store: one run directory, fsynced trial lines, tidy loading, schema checks."""
from __future__ import annotations

import json

import pytest

import vbench
from vbench.errors import VBenchError
from vbench.model import RunMeta
from vbench.store import (SCHEMA_VERSION, TRIAL_COLUMNS, RunStore, from_record, iter_trials, read_run,
                          trial_rows)


def trial(tid="r001-a@native", status="ok", warmup=False, metrics=None):
    return {"schema_version": SCHEMA_VERSION, "trial_id": tid, "round": 1, "warmup": warmup, "seq": 0,
            "case": "a", "workload": "cpu.pyloop", "environment": "native", "env_kind": "native",
            "variant": None, "status": status, "error": None if status == "ok" else "boom",
            "metrics": {"ops": {"value": 10.0, "unit": "ops/s", "higher_is_better": True},
                        "lat": {"value": 2.0, "unit": "us", "higher_is_better": False}}
            if metrics is None else metrics,
            "primary": "ops", "flags": ["x"], "info": {"io_mode": "direct"}}


@pytest.fixture
def store(tmp_path):
    return RunStore.create(tmp_path, "run-1", RunMeta(suite={"name": "t"}))


def test_create_writes_versioned_meta_and_refuses_overwrite(tmp_path, store):
    meta = read_run(store.dir)
    assert meta["schema_version"] == SCHEMA_VERSION and meta["run_id"] == "run-1"
    with pytest.raises(VBenchError, match="refusing to overwrite"):
        RunStore.create(tmp_path, "run-1", RunMeta())


def test_trials_round_trip_into_a_tidy_frame(store):
    store.append_trial(from_record(trial()))
    store.append_trial(from_record(trial("r001-b@native", status="failed", metrics={})))
    frame = vbench.load(store.dir)
    assert len(frame) == 3  # two metrics of the ok trial, one row for the failed one
    ok = frame[frame.status == "ok"].set_index("metric")
    assert ok.loc["ops", "value"] == 10.0 and ok.loc["ops", "primary"]
    assert not ok.loc["lat", "higher_is_better"] and ok.loc["lat", "unit"] == "us"
    assert frame.attrs["run"]["run_id"] == "run-1"
    assert frame["warmup"].dtype == bool
    assert frame[frame.status == "failed"]["error"].iloc[0] == "boom"


def test_load_accepts_the_trials_file_path(store):
    store.append_trial(from_record(trial()))
    assert len(vbench.load(store.dir / "trials.jsonl")) == 2


def test_truncated_last_line_is_skipped_with_a_warning(store):
    store.append_trial(from_record(trial()))
    with open(store.dir / "trials.jsonl", "a") as f:
        f.write('{"schema_version": 1, "trial_id": "r0')
    with pytest.warns(UserWarning, match="truncated"):
        records = list(iter_trials(store.dir))
    assert len(records) == 1


def test_corrupt_middle_line_is_an_error(store):
    store.append_trial(from_record(trial()))
    with open(store.dir / "trials.jsonl", "a") as f:
        f.write("garbage\n")
    store.append_trial(from_record(trial("r002-a@native")))
    with pytest.raises(VBenchError, match="line 2"):
        list(iter_trials(store.dir))


def test_newer_schema_says_upgrade(store):
    meta = json.loads((store.dir / "run.json").read_text())
    meta["schema_version"] = SCHEMA_VERSION + 1
    (store.dir / "run.json").write_text(json.dumps(meta))
    with pytest.raises(VBenchError, match="upgrade vbench"):
        vbench.load(store.dir)


@pytest.mark.parametrize("content", ["not json", "[1, 2]", '{"run_id": "x"}'])
def test_unreadable_run_files(tmp_path, content):
    (tmp_path / "run.json").write_text(content)
    with pytest.raises(VBenchError):
        read_run(tmp_path)


def test_not_a_run_directory(tmp_path):
    with pytest.raises(VBenchError, match="not a vbench run"):
        vbench.load(tmp_path)


def test_trial_rows_of_failed_trial_have_no_metric():
    rows = [dict(zip(TRIAL_COLUMNS, row)) for row in trial_rows(trial(status="timeout", metrics={}))]
    assert len(rows) == 1 and rows[0]["metric"] is None and rows[0]["status"] == "timeout"
