"""The result store: ``results/<run-id>/run.json``, ``trials.jsonl`` and ``samples/<trial-id>.json``.

Format history (``schema_version``, independent of the package version):
  1  first format: run.json with host fingerprint and suite; one JSON trial per line in trials.jsonl.
  2  run.json's status is one word (running, complete, interrupted, failed) and a failed run's why is in
     ``reason``, no longer "failed: <why>" in the status; trials unchanged.

Each version's records are described by the JSON Schemas in ``vbench/schema/`` (run.schema.json,
trial.schema.json). A change to the format bumps SCHEMA_VERSION, adds a line above, updates the schemas and adds
``MIGRATIONS[old] = function`` turning a record of version ``old`` into one of ``old + 1``; readers apply the chain
in memory, so older files stay readable and are never rewritten. A version with no migration says "re-run"; a
newer one says "upgrade vbench".

Trials are appended and fsynced one by one, so an interrupted run loses at most the trial in flight. run.json is
replaced atomically (write, fsync, rename) and never silently overwritten by another run.
"""
from __future__ import annotations

import dataclasses
import json
import os
import secrets
import time
import warnings
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import orjson

from vbench.diskspace import append_line, write_atomic, writing
from vbench.errors import VBenchError
from vbench.model import EnvOptions, HostFingerprint, Metric, RunMeta, Trial
from vbench.validity import disturbance_resources, operation

if TYPE_CHECKING:
    import pandas as pd

SCHEMA_VERSION = 2
FAILED_PREFIX = "failed: "  # version 1's failed status, the reason after it


def _status_split(kind: str, record: dict[str, Any]) -> dict[str, Any]:
    """1 -> 2: a run's "failed: <why>" status becomes status "failed" and reason "<why>"."""
    status = record.get("status")
    if kind == "run" and isinstance(status, str) and status.startswith(FAILED_PREFIX):
        return {**record, "status": "failed", "reason": status[len(FAILED_PREFIX):]}
    return record


# from_version -> function(kind, record) giving the record ("run" for run.json, "trial" for a trials.jsonl line) in
# from_version + 1, as asv's update_to_N. There never was a version 0.
MIGRATIONS: dict[int, Callable[[str, dict[str, Any]], dict[str, Any]]] = {1: _status_split}
# What a trial record must hold for the readers (trial_rows) to use it; the schema describes the rest.
TRIAL_KEYS = ("trial_id", "round", "warmup", "case", "workload", "environment", "env_kind", "status")
RUN_FILE = "run.json"
TRIALS_FILE = "trials.jsonl"
SAMPLES_DIR = "samples"


def schema(record: str) -> dict[str, Any]:
    """The JSON Schema of ``record`` ("run" or "trial") as SCHEMA_VERSION writes it (vbench/schema/)."""
    text = resources.files("vbench").joinpath(f"schema/{record}.schema.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def new_run_id(suite: str) -> str:
    return f"{time.strftime('%Y%m%d-%H%M%S')}-{suite}-{secrets.token_hex(2)}"


class RunStore:
    """Writes one run's directory."""

    def __init__(self, directory: Path):
        self.dir = Path(directory)

    @classmethod
    def create(cls, results_dir: Path, run_id: str, meta: RunMeta) -> "RunStore":
        directory = Path(results_dir) / run_id
        try:
            directory.mkdir(parents=True, exist_ok=False, mode=0o755)
        except FileExistsError:
            raise VBenchError(f"{directory} already exists; refusing to overwrite a run") from None
        except OSError as exc:
            raise VBenchError(f"cannot create {directory}: {exc.strerror}") from None
        store = cls(directory)
        store.write_meta(meta)
        return store

    def write_meta(self, meta: RunMeta) -> None:
        record = {**meta_record(meta), "schema_version": SCHEMA_VERSION, "run_id": self.dir.name}
        write_atomic(self.dir / RUN_FILE, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")

    def read_meta(self) -> RunMeta:
        return read_meta(self.dir)

    def append_trial(self, trial: Trial) -> None:
        """One trial's line, whole and fsynced, or none (a full disk: vbench.diskspace)."""
        append_line(self.dir / TRIALS_FILE, (json.dumps(to_record(trial), sort_keys=True, default=str) + "\n").encode())

    def repair_tail(self) -> int:
        """Cut a partial last line (a crash mid-write) off trials.jsonl before appending; bytes dropped."""
        path = self.dir / TRIALS_FILE
        if not path.exists():
            return 0
        data = path.read_bytes()
        if not data or data.endswith(b"\n"):
            return 0
        keep = data.rfind(b"\n") + 1
        with open(path, "r+b") as f:
            f.truncate(keep)
            os.fsync(f.fileno())
        warnings.warn(f"{path}: dropped a truncated last line ({len(data) - keep} bytes)", stacklevel=2)
        return len(data) - keep

    def write_samples(self, trial_id: str, series: dict[str, list[dict]]) -> str:
        with writing(self.dir / SAMPLES_DIR):
            (self.dir / SAMPLES_DIR).mkdir(exist_ok=True)
        rel = f"{SAMPLES_DIR}/{trial_id}.json"
        write_atomic(self.dir / rel, json.dumps(series, separators=(",", ":")))
        return rel


def run_dir(path: str | Path) -> Path:
    """The run directory for a run directory, its run.json or its trials.jsonl."""
    path = Path(path)
    if path.name in (RUN_FILE, TRIALS_FILE):
        path = path.parent
    if not (path / RUN_FILE).is_file():
        raise VBenchError(f"{path} is not a vbench run (no {RUN_FILE})")
    return path


def read_run(path: str | Path) -> dict:
    """run.json of a run, checked for its schema version and migrated to the current one."""
    file = run_dir(path) / RUN_FILE
    try:
        meta = _parse_json(file.read_bytes())
    except OSError as exc:
        raise VBenchError(f"cannot read {file}: {exc.strerror}") from None
    except ValueError as exc:
        raise VBenchError(f"cannot read {file}: {exc}") from None
    if not isinstance(meta, dict):
        raise VBenchError(f"{file}: not a vbench run file (a JSON {type(meta).__name__}, not an object)")
    return migrate("run", meta, file)


def status_text(meta: dict[str, Any]) -> str:
    """A run's status as people read it: "complete", or "failed: <why>" for a failed run (run.json keeps the two
    apart, ``status`` and ``reason``)."""
    status = str(meta.get("status") or "unknown")
    return f"{status}: {meta['reason']}" if meta.get("reason") else status


def read_meta(path: str | Path) -> RunMeta:
    """run.json of a run as the model holds it (read_run gives the record itself)."""
    return meta_from(read_run(path), run_dir(path) / RUN_FILE)


# Written even when unset: a run that has not ended says so with null.
META_ALWAYS = ("ended_at",)
META_FIELDS = tuple(f.name for f in dataclasses.fields(RunMeta))


def meta_record(meta: RunMeta) -> dict:
    """run.json's record of ``meta``: its fields that are set (and ended_at)."""
    record = {name: getattr(meta, name) for name in META_FIELDS}
    record.update(env_options=env_options_record(meta.env_options) if meta.env_options else None,
                  host=host_record(meta.host) if meta.host else None)
    for name in ("environments", "resumed_at"):
        record[name] = list(record[name]) if record[name] is not None else None
    return {k: v for k, v in record.items() if v is not None or k in META_ALWAYS}


def meta_from(record: dict, where: str | Path = RUN_FILE) -> RunMeta:
    """The model of run.json's record (at this version); a clear error for one of the wrong shape."""
    unknown = sorted(set(record) - set(META_FIELDS) - {"schema_version"})
    if unknown:
        raise VBenchError(f"{where}: not a run file of this vbench (it has {', '.join(unknown)})")
    fields = {name: record[name] for name in META_FIELDS if name in record}
    for name in ("environments", "resumed_at"):
        if fields.get(name) is not None:
            fields[name] = tuple(fields[name])
    if fields.get("env_options") is not None:
        fields["env_options"] = env_options_from(fields["env_options"], where)
    if fields.get("host") is not None:
        fields["host"] = host_from(fields["host"])
    return RunMeta(**fields)


HOST_FIELDS = tuple(f.name for f in dataclasses.fields(HostFingerprint) if f.name != "extra")


def host_record(host: HostFingerprint) -> dict:
    """run.json's ``host``: the fingerprint's fields and whatever else it was given."""
    return {**{name: getattr(host, name) for name in HOST_FIELDS}, **host.extra}


def host_from(record: dict) -> HostFingerprint:
    return HostFingerprint(**{k: v for k, v in record.items() if k in HOST_FIELDS},
                           extra={k: v for k, v in record.items() if k not in HOST_FIELDS})


def migrate(kind: str, record: dict, where: str | Path) -> dict:
    """``record`` ("run" or "trial") brought to SCHEMA_VERSION through MIGRATIONS, in memory; errors name
    ``where``."""
    version = record.get("schema_version")
    if version is None:
        raise VBenchError(f"{where}: no schema_version; not a vbench result")
    if isinstance(version, bool) or not isinstance(version, int):
        raise VBenchError(f"{where}: schema_version {version!r} is not an integer; not a vbench result")
    if version > SCHEMA_VERSION:
        raise VBenchError(f"{where}: schema version {version} is newer than this vbench reads ({SCHEMA_VERSION}); "
                          "upgrade vbench")
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise VBenchError(f"{where}: schema version {version} is older than this vbench reads "
                              f"({SCHEMA_VERSION}) and no migration exists; re-run")
        version += 1
        record = {**step(kind, record), "schema_version": version}
    return record


def iter_trials(path: str | Path) -> Iterator[Trial]:
    """The trials of a run; a truncated last line (a crash mid-write) is skipped with a warning."""
    for where, record in _records(path):
        yield from_record(record, where)


def iter_records(path: str | Path) -> Iterator[dict]:
    """The trial records of a run as JSON holds them (migrated to this version): the tidy table reads them."""
    for _, record in _records(path):
        yield record


def _records(path: str | Path) -> Iterator[tuple[str, dict]]:
    file = run_dir(path) / TRIALS_FILE
    if not file.exists():
        return
    try:
        lines = file.read_bytes().split(b"\n")
    except OSError as exc:
        raise VBenchError(f"cannot read {file}: {exc.strerror}") from None
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            record = _parse_json(raw)
        except ValueError:
            if number >= len(lines) - 1:
                warnings.warn(f"{file}: line {number} is truncated (interrupted write); ignored", stacklevel=2)
                continue
            raise VBenchError(f"{file}: line {number} is not valid JSON") from None
        where = f"{file}: line {number}"
        if not isinstance(record, dict):
            raise VBenchError(f"{where}: not a trial record (a JSON {type(record).__name__}, not an object)")
        record = migrate("trial", record, where)
        missing = [key for key in TRIAL_KEYS if key not in record]
        if missing:
            raise VBenchError(f"{where}: not a trial record (no {', '.join(missing)})")
        yield where, record


# Written only when set: a VM's trials carry their accelerator, other environments' do not.
UNSET_LEFT_OUT = ("accelerator", "emulation", "run_id", "samples", "guest", "collectors", "stderr_tail")
TRIAL_FIELDS = tuple(f.name for f in dataclasses.fields(Trial))


def to_record(trial: Trial) -> dict:
    """A trial as one line of trials.jsonl holds it."""
    record = {name: getattr(trial, name) for name in TRIAL_FIELDS}
    record.update(schema_version=SCHEMA_VERSION, flags=list(trial.flags), params=dict(trial.params),
                  info=dict(trial.info), metrics={name: dataclasses.asdict(m) for name, m in trial.metrics.items()})
    return {k: v for k, v in record.items() if v is not None or k not in UNSET_LEFT_OUT}


def from_record(record: dict, where: str | Path = "a trial") -> Trial:
    """The trial a record of trials.jsonl holds (at this version); a clear error for one of the wrong shape."""
    try:
        metrics = {name: Metric(float(m["value"]), m["unit"], bool(m["higher_is_better"]))
                   for name, m in (record.get("metrics") or {}).items()}
        fields: dict[str, Any] = {name: record.get(name) for name in TRIAL_FIELDS if name in record}
        values: dict[str, Any] = {"guest_duration_s": None, "seq": None, "params": {}, "variant": None,
                                  "error": None, "started_at": None, "host_wall_s": None, "primary": None, **fields,
                                  "metrics": metrics, "flags": tuple(record.get("flags") or ()),
                                  "info": record.get("info") or {}}
        return Trial(**values)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:  # right fields, wrong shapes
        raise VBenchError(f"{where}: trial {record.get('trial_id')!r} is malformed "
                          f"({type(exc).__name__}: {exc})") from None


def _parse_json(data: bytes) -> Any:
    """JSON from bytes; every way it can fail (bad UTF-8, bad syntax, absurd nesting) is a ValueError.

    orjson parses a run's trials several times faster; records holding NaN (which json.dumps writes and orjson
    refuses) fall back to the standard parser."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(data)
    except RecursionError:
        raise ValueError("nested too deeply to be a vbench result") from None


TRIAL_COLUMNS = ["run_id", "trial_id", "round", "warmup", "seq", "case", "workload", "environment", "env_kind",
                 "variant", "accelerator", "status", "error", "metric", "value", "unit", "higher_is_better",
                 "primary", "io_mode", "engine", "operation", "flags", "disturbed_by", "host_wall_s",
                 "guest_duration_s", "started_at"]


def trial_rows(trial: dict) -> list[tuple]:
    """The tidy rows of one trial, as tuples in TRIAL_COLUMNS order: one per metric (a failed trial gives one
    row with no metric). Tuples, not dicts: a million rows load in seconds."""
    info = trial.get("info") or {}
    head = (trial.get("run_id"), trial["trial_id"], trial["round"], bool(trial["warmup"]), trial.get("seq"),
            trial["case"], trial["workload"], trial["environment"], trial["env_kind"], trial.get("variant"),
            trial.get("accelerator"), trial["status"], trial.get("error"))
    tail = (info.get("io_mode"), info.get("engine"), operation(info, trial.get("params")),
            ",".join(trial.get("flags", [])), disturbed_by(trial), trial.get("host_wall_s"),
            trial.get("guest_duration_s"), trial.get("started_at"))
    metrics = trial.get("metrics") or {}
    if not metrics:
        return [(*head, None, float("nan"), None, None, False, *tail)]
    primary = trial.get("primary")
    return [(*head, name, m["value"], m["unit"], bool(m["higher_is_better"]), name == primary, *tail)
            for name, m in metrics.items()]


def disturbed_by(trial: dict) -> str:
    """The resources a trial shared with the rest of the host ("cpu,disk"; "" for none): its reasons'."""
    figures = ((trial.get("collectors") or {}).get("psutil") or {}).get("disturbance") or {}
    return disturbance_resources(figures.get("reasons"))


def load_trials(path: str | Path) -> "pd.DataFrame":
    """A run's trials as a tidy pandas DataFrame (one row per trial and metric)."""
    meta = read_run(path)
    rows = []
    for trial in iter_records(path):
        try:
            rows += trial_rows(trial)
        except (AttributeError, KeyError, TypeError) as exc:  # right fields, wrong shapes: see trial.schema.json
            raise VBenchError(f"{run_dir(path) / TRIALS_FILE}: trial {trial['trial_id']!r} is malformed "
                              f"({type(exc).__name__}: {exc})") from None

    import pandas as pd  # after reading: a run that cannot be read says so at once

    frame = pd.DataFrame.from_records(rows, columns=TRIAL_COLUMNS)
    frame["warmup"] = frame["warmup"].astype(bool)
    # Trials written before trials carried their accelerator: the environment's fingerprint has it.
    accelerators = {label: fp.get("accelerator") for label, fp in meta.get("env_fingerprints", {}).items()}
    frame["accelerator"] = frame["accelerator"].fillna(frame["environment"].map(accelerators))
    frame["value"] = frame["value"].astype(float)
    frame.attrs["run"] = meta
    return frame


def env_options_record(options: EnvOptions) -> dict:
    """run.json's ``env_options``: the options that were set."""
    return {key: value for key, value in dataclasses.asdict(options).items() if value is not None}


def env_options_from(record: dict, where: str | Path) -> EnvOptions:
    """The options of run.json's ``env_options``; a clear error for a name no backend reads."""
    unknown = sorted(set(record) - set(EnvOptions.names()))
    if unknown:
        raise VBenchError(f"{where}: env_options has {', '.join(unknown)}, which this vbench does not know")
    return EnvOptions(**record)

