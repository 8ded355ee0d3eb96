"""The result format: JSON Schemas of run.json and of a trials.jsonl line, checked against recorded runs and a
fresh one, against broken records, and the migration chain of vbench.store."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from conftest import DATA
from vbench import store
from vbench.errors import VBenchError

RECORDED = [DATA / "runs" / "small", *sorted(p.parent for p in (DATA / "compare").glob("*/run.json"))]


@pytest.fixture(scope="module")
def validators() -> dict[str, Draft202012Validator]:
    """The schemas as the package ships them (package data, loaded through vbench.store.schema)."""
    return {kind: Draft202012Validator(store.schema(kind)) for kind in ("run", "trial")}


def errors(validator: Draft202012Validator, record) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path)) or '(top)'}: {e.message}" for e in validator.iter_errors(record)]


def assert_valid_run(directory: Path, validators) -> None:
    """Every record of the run, as the readers see it (migrated to this version in memory), matches the schemas."""
    assert errors(validators["run"], store.read_run(directory)) == []
    records = list(store.iter_records(directory))
    assert records, f"{directory} has no trials"
    for number, record in enumerate(records, 1):
        assert errors(validators["trial"], record) == [], f"{directory.name} line {number}"


@pytest.mark.parametrize("kind", ["run", "trial"])
def test_schemas_are_draft_2020_12_of_the_current_version(kind):
    schema = store.schema(kind)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["properties"]["schema_version"] == {"const": store.SCHEMA_VERSION}


@pytest.mark.parametrize("directory", RECORDED, ids=lambda p: p.name)
def test_recorded_runs_match_the_schemas(directory, validators):
    assert_valid_run(directory, validators)


def test_a_fresh_run_matches_the_schemas(tiny_run, validators):
    assert_valid_run(tiny_run, validators)


def small_records() -> tuple[dict, dict]:
    directory = DATA / "runs" / "small"
    return store.read_run(directory), next(store.iter_records(directory))


def broken(record: dict, path: str, value=None, delete: bool = False) -> dict:
    """A deep copy of ``record`` with the field at ``path`` (a/b/c) set to ``value`` or deleted."""
    record = copy.deepcopy(record)
    *parents, last = path.split("/")
    target = record
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if delete:
        del target[last]
    else:
        target[last] = value
    return record


RUN_BREAKS = [
    ("schema_version", 3, False), ("schema_version", "2", False), ("status", "failed: it broke", False),
    ("run_id", None, True), ("suite", None, True),
    ("suite", "cpu", False), ("suite/plan/min_rounds", 0, False), ("suite/plan/timeout_s", -5, False),
    ("suite/plan/bogus", 1, False), ("suite/entries", [], False), ("suite/entries/0/params", "x", False),
    ("seed", -1, False), ("seed", 1.5, False), ("status", "finished", False), ("rounds/done", "3", False),
    ("rounds/decisions/0/more", "yes", False), ("environments", [], False), ("environments", "native", False),
    ("env_fingerprints/native/kind", None, True), ("lifecycles/native/notes", "x", False), ("host", [], False),
    ("extra", 1, False),
]
TRIAL_BREAKS = [
    ("schema_version", 0, False), ("trial_id", None, True), ("trial_id", "pyloop", False), ("round", "1", False),
    ("round", 1.5, False), ("warmup", "no", False), ("seq", -1, False), ("case", "", False),
    ("status", "done", False), ("error", 5, False), ("metrics/ops/value", "fast", False),
    ("metrics/ops/unit", None, True), ("metrics/ops/extra", 1, False), ("flags", "x", False),
    ("flags", [1], False), ("info", [], False), ("host_wall_s", -1, False), ("params", None, True),
    ("extra", 1, False),
]


@pytest.mark.parametrize("path, value, delete", RUN_BREAKS, ids=lambda v: str(v))
def test_a_broken_run_file_fails(path, value, delete, validators):
    run, _ = small_records()
    assert errors(validators["run"], run) == []
    assert errors(validators["run"], broken(run, path, value, delete))


@pytest.mark.parametrize("path, value, delete", TRIAL_BREAKS, ids=lambda v: str(v))
def test_a_broken_trial_fails(path, value, delete, validators):
    _, trial = small_records()
    assert errors(validators["trial"], trial) == []
    assert errors(validators["trial"], broken(trial, path, value, delete))


@pytest.mark.parametrize("record", [[1, 2], "run", None, 3])
def test_a_record_that_is_not_an_object_fails(record, validators):
    assert errors(validators["run"], record) and errors(validators["trial"], record)


def test_a_version_without_a_migration_says_re_run(tmp_path):
    assert set(store.MIGRATIONS) == {1}  # version 1 -> 2 only; there never was a version 0
    (tmp_path / "run.json").write_text(json.dumps({"schema_version": 0, "run_id": "old"}))
    with pytest.raises(VBenchError, match="schema version 0 is older than this vbench reads .* no migration "
                                          "exists; re-run"):
        store.read_run(tmp_path)


def test_migrations_chain_in_memory_and_never_rewrite_the_file(tmp_path, monkeypatch):
    """With a format 3 and steps 1->2, 2->3, a version-1 run and its trials are read as version 3."""
    def to_2(kind, record):
        if kind == "run":
            return {"renamed": record["old"], **{k: v for k, v in record.items() if k != "old"}}
        return {**record, "step2": True}

    def to_3(kind, record):
        return {**record, "kind_seen": kind}

    monkeypatch.setattr(store, "SCHEMA_VERSION", 3)
    monkeypatch.setattr(store, "MIGRATIONS", {1: to_2, 2: to_3})
    (tmp_path / "run.json").write_text(json.dumps({"schema_version": 1, "run_id": "r", "old": "x"}))
    trial = {"schema_version": 1, "trial_id": "r001-a@native", "round": 1, "warmup": False, "case": "a",
             "workload": "cpu.pyloop", "environment": "native", "env_kind": "native", "status": "ok"}
    (tmp_path / "trials.jsonl").write_text(json.dumps(trial) + "\n")
    before = (tmp_path / "run.json").read_bytes(), (tmp_path / "trials.jsonl").read_bytes()

    meta = store.read_run(tmp_path)
    assert meta == {"schema_version": 3, "run_id": "r", "renamed": "x", "kind_seen": "run"}
    (read,) = store.iter_records(tmp_path)
    assert read["schema_version"] == 3 and read["step2"] and read["kind_seen"] == "trial"
    assert ((tmp_path / "run.json").read_bytes(), (tmp_path / "trials.jsonl").read_bytes()) == before


def test_a_gap_in_the_chain_says_re_run(tmp_path, monkeypatch):
    monkeypatch.setattr(store, "SCHEMA_VERSION", 3)
    monkeypatch.setattr(store, "MIGRATIONS", {2: lambda kind, record: record})
    (tmp_path / "run.json").write_text(json.dumps({"schema_version": 1, "run_id": "r"}))
    with pytest.raises(VBenchError, match="schema version 1 is older .* re-run"):
        store.read_run(tmp_path)


def test_the_run_schemas_env_options_are_the_models():
    """run.json's env_options are written from vbench.model.EnvOptions and read back into it: the schema names
    the same fields, with the types the dataclass declares."""
    import dataclasses
    import typing

    from vbench.model import EnvOptions
    from vbench.store import env_options_from, env_options_record

    declared = store.schema("run")["properties"]["env_options"]["properties"]
    assert tuple(declared) == EnvOptions.names()
    json_types = {str: "string", float: "number", int: "integer", bool: "boolean"}
    hints = typing.get_type_hints(EnvOptions)
    for field in dataclasses.fields(EnvOptions):
        python = next(t for t in typing.get_args(hints[field.name]) if t is not type(None))
        assert declared[field.name].get("type", "string") == json_types[python], field.name
    options = EnvOptions(image="x", cpus=1.5, blkio_accounting=True, vcpus=2, accel="tcg")
    assert env_options_record(options) == {"image": "x", "cpus": 1.5, "blkio_accounting": True, "vcpus": 2,
                                           "accel": "tcg"}
    assert env_options_from(env_options_record(options), "run.json") == options
    with pytest.raises(VBenchError, match="env_options has colour, which this vbench does not know"):
        env_options_from({"colour": "blue"}, "run.json")


def test_the_schemas_name_the_models_fields():
    """trials.jsonl and run.json are written from vbench.model's Trial, Metric and RunMeta (by store.py): each
    schema names exactly the model's fields (and the version), and the required ones are fields the model has
    no default for, or always writes."""
    import dataclasses

    from vbench.model import Metric, RunMeta, Trial

    def names(cls):
        return {f.name for f in dataclasses.fields(cls)}

    def without_default(cls):
        return {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}

    trial, run = store.schema("trial"), store.schema("run")
    assert set(trial["properties"]) == names(Trial) | {"schema_version"}
    assert set(trial["required"]) - {"schema_version"} == without_default(Trial)
    assert set(trial["properties"]["metrics"]["additionalProperties"]["properties"]) == names(Metric)
    assert set(run["properties"]) == names(RunMeta) | {"schema_version"}
    assert set(run["required"]) <= names(RunMeta) | {"schema_version"}


def test_a_trial_and_a_run_go_through_json_and_back_unchanged(tiny_run):
    """store.py's two directions are each other's inverse on a real run, and what they write is the file."""
    for record in store.iter_records(tiny_run):
        assert store.to_record(store.from_record(record)) == record
    meta = store.read_run(tiny_run)
    assert {**store.meta_record(store.read_meta(tiny_run)), "schema_version": meta["schema_version"],
            "run_id": meta["run_id"]} == meta


def test_version_1_runs_read_as_version_2_and_the_file_is_never_rewritten(tmp_path):
    """A failed run's "failed: <why>" status (version 1) reads as status "failed" and reason "<why>"."""
    old = {"schema_version": 1, "run_id": "r", "status": "failed: the Docker engine stopped answering"}
    (tmp_path / "run.json").write_text(json.dumps(old))
    before = (tmp_path / "run.json").read_bytes()
    meta = store.read_run(tmp_path)
    assert meta["status"] == "failed" and meta["reason"] == "the Docker engine stopped answering"
    assert meta["schema_version"] == store.SCHEMA_VERSION and (tmp_path / "run.json").read_bytes() == before
    assert store.migrate("run", {**old, "status": "complete"}, "x")["status"] == "complete"
    trial = {"schema_version": 1, "trial_id": "r001-a@native", "status": "failed", "error": "boom"}
    assert store.migrate("trial", trial, "x") == {**trial, "schema_version": 2}  # trials unchanged


@pytest.mark.parametrize("directory", RECORDED, ids=lambda p: p.name)
def test_recorded_runs_round_trip_byte_for_byte(directory):
    """Every recorded run loads into the model and writes back exactly what its (migrated) records say."""
    lines = (directory / "trials.jsonl").read_text().splitlines()
    for number, line in enumerate(lines, 1):
        record = store.migrate("trial", json.loads(line), f"line {number}")
        again = store.to_record(store.from_record(record))
        assert json.dumps(again, sort_keys=True) == json.dumps(record, sort_keys=True), f"line {number}"
    meta = store.read_run(directory)
    written = {**store.meta_record(store.meta_from(meta)), "schema_version": meta["schema_version"],
               "run_id": meta["run_id"]}
    assert json.dumps(written, sort_keys=True) == json.dumps(meta, sort_keys=True)
