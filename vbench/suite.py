"""Suites: TOML files naming workloads with parameters, default environments and the plan's settings.

A suite file::

    name = "io"
    description = "..."
    environments = ["native"]          # the default set; `vbench run --env` overrides it

    [plan]                             # every field optional, see PlanSettings
    min_rounds = 5

    [quick.plan]                       # what --quick changes
    max_rounds = 4
    [quick.params]                     # applied to every workload that declares the parameter
    runtime = 2.0

    [[workload]]
    name = "randread-4k-qd1"           # the case's name in results
    use = "io.fio"                     # workloads/<kind>/<name>.py
    params = { rw = "randread", bs = "4k" }
    quick = { size = "32M" }           # optional, this entry only

Every field is validated; an error names the file and the field.
"""
from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from vbench import catalog, envs
from vbench.model import BASELINE
from vbench.errors import VBenchError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$")


@dataclass(frozen=True)
class PlanSettings:
    """How many rounds to run and when to stop adding them."""

    warmup_rounds: int = 1
    min_rounds: int = 6  # the fewest pairs a 95% signed-rank CI exists for
    max_rounds: int = 15
    ci_target_pct: float = 2.0  # stop when every overhead's 95% CI half-width is at most this
    time_budget_s: float = 3600.0  # no new round starts when it would likely end past this
    timeout_s: float = 300.0  # one trial
    seed: int | None = None  # None: drawn at run time and recorded

    def validate(self, where: str) -> "PlanSettings":
        ints = {"warmup_rounds": (0, 100), "min_rounds": (1, 10_000), "max_rounds": (1, 10_000)}
        for name, (low, high) in ints.items():
            _check_int(f"{where}.{name}", getattr(self, name), low, high)
        for name in ("ci_target_pct", "time_budget_s", "timeout_s"):
            value = getattr(self, name)
            # `not 0 < value` also refuses NaN; the upper bound refuses inf.
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value <= 1e7:
                raise VBenchError(f"{where}.{name}: expected a positive number up to 1e7, got {value!r}")
        if self.seed is not None:
            _check_int(f"{where}.seed", self.seed, 0, 2**63 - 1)
        if self.max_rounds < self.min_rounds:
            raise VBenchError(f"{where}.max_rounds: {self.max_rounds} is below min_rounds {self.min_rounds}")
        return self


@dataclass(frozen=True)
class Entry:
    """A workload with its parameters, as the suite names it."""

    name: str
    workload: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Suite:
    name: str
    description: str
    entries: tuple[Entry, ...]
    environments: tuple[str, ...]
    plan: PlanSettings
    source: str
    quick: bool = False

    def to_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "source": self.source, "quick": self.quick,
                "environments": list(self.environments), "plan": _plan_dict(self.plan),
                "entries": [{"name": e.name, "workload": e.workload, "params": e.params} for e in self.entries]}


def suite_from_dict(data: Any) -> Suite:
    """The suite as a run recorded it (``Suite.to_dict``), for resuming that run."""
    where = "run.json: suite"
    try:
        plan = _plan(data["plan"], f"{where}.plan")
        entries = tuple(Entry(e["name"], e["workload"], dict(e["params"])) for e in data["entries"])
        for index, entry in enumerate(entries):  # a recorded suite is input too (a run.json can be edited)
            catalog.validate_params(entry.workload, entry.params, f"{where}.entries[{index}].params")
        return Suite(data["name"], data.get("description", ""), entries, tuple(data["environments"]), plan,
                     data.get("source", "run.json"), bool(data.get("quick")))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise VBenchError(f"{where}: not a suite as vbench records it ({type(exc).__name__}: {exc})") from None


def builtin_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("vbench.suites").iterdir() if p.name.endswith(".toml"))


def load_suite(name_or_path: str, quick: bool = False) -> Suite:
    """A built-in suite by name, or a user's suite file by path, validated."""
    if name_or_path in builtin_names():
        source = f"builtin:{name_or_path}"
        text = resources.files("vbench.suites").joinpath(f"{name_or_path}.toml").read_text()
    else:
        path = Path(name_or_path)
        if not path.suffix == ".toml" and not path.exists():
            raise VBenchError(f"unknown suite {name_or_path!r}; built-in suites: {', '.join(builtin_names())}, "
                              "or give the path of a .toml file")
        if path.exists() and not path.is_file():  # a directory, or a device or FIFO that would never end
            raise VBenchError(f"cannot read suite {name_or_path}: not a regular file")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            why = exc.strerror if isinstance(exc, OSError) else exc
            raise VBenchError(f"cannot read suite {name_or_path}: {why}") from None
        source = str(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise VBenchError(f"{source}: TOML syntax error: {exc}") from None
    except RecursionError:  # tomllib recurses once per nested array or table
        raise VBenchError(f"{source}: TOML nested too deeply to be a suite") from None
    return parse_suite(data, source, quick)


def parse_suite(data: dict, source: str, quick: bool = False) -> Suite:
    """Validate a suite's TOML document; errors are prefixed with ``source`` and the field's path."""
    _only(data, {"name", "description", "environments", "plan", "quick", "workload"}, source)
    name = _string(data, "name", source, required=True)
    if not NAME_RE.match(name):
        raise VBenchError(f"{source}: name: {name!r} must be letters, digits, '.', '_', '+' or '-'")
    description = _string(data, "description", source) or ""
    environments = _string_list(data, "environments", source) or [BASELINE]
    for index, env in enumerate(environments):
        try:
            envs.resolve(env)
        except VBenchError as exc:
            raise VBenchError(f"{source}: environments[{index}]: {exc}") from None
    plan = _plan(data.get("plan", {}), f"{source}: plan")
    quick_table = _table(data, "quick", source)
    _only(quick_table, {"plan", "params"}, f"{source}: quick")
    # The quick plan is checked with or without --quick: an error should not wait for the day --quick is used.
    quick_plan = _plan({**_plan_dict(plan, skip_none=True), **_table(quick_table, "plan", f"{source}: quick")},
                       f"{source}: quick.plan")
    if quick:
        plan = quick_plan
    raw_entries = data.get("workload")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise VBenchError(f"{source}: workload: at least one [[workload]] table is required")
    quick_params = _table(quick_table, "params", f"{source}: quick")
    entries = tuple(_entry(raw, f"{source}: workload[{i}]", quick, quick_params, f"{source}: quick.params")
                    for i, raw in enumerate(raw_entries))
    seen = set()
    for entry in entries:
        if entry.name in seen:
            raise VBenchError(f"{source}: workload: the name {entry.name!r} is used twice")
        seen.add(entry.name)
    return Suite(name, description, entries, tuple(environments), plan, source, quick)


def _entry(raw: Any, where: str, quick: bool, quick_params: dict, quick_where: str) -> Entry:
    if not isinstance(raw, dict):
        raise VBenchError(f"{where}: expected a table")
    _only(raw, {"name", "use", "params", "quick"}, where)
    workload = _string(raw, "use", where, required=True)
    try:
        declared = catalog.describe(workload).params
    except VBenchError as exc:
        raise VBenchError(f"{where}.use: {exc}") from None
    name = _string(raw, "name", where) or workload
    if not NAME_RE.match(name):
        raise VBenchError(f"{where}.name: {name!r} must be letters, digits, '.', '_', '+' or '-'")
    params = catalog.validate_params(workload, _table(raw, "params", where), f"{where}.params")
    shared = {k: v for k, v in quick_params.items() if k in declared}
    # Checked with or without --quick, each where it is written, then together (a quick size below bs).
    catalog.check_fields(workload, shared, quick_where)
    entry_quick = catalog.check_fields(workload, _table(raw, "quick", where), f"{where}.quick")
    quick_merged = {**params, **shared, **entry_quick}
    catalog.check_together(workload, quick_merged, f"{where}.params with the quick overrides")
    return Entry(name, workload, quick_merged if quick else params)


def _plan(raw: Any, where: str) -> PlanSettings:
    if not isinstance(raw, dict):
        raise VBenchError(f"{where}: expected a table")
    known = {f.name for f in fields(PlanSettings)}
    _only(raw, known, where)
    return PlanSettings(**raw).validate(where)


def _plan_dict(plan: PlanSettings, skip_none: bool = False) -> dict:
    values = {f.name: getattr(plan, f.name) for f in fields(PlanSettings)}
    return {k: v for k, v in values.items() if not (skip_none and v is None)}


def with_plan(suite: Suite, **overrides: Any) -> Suite:
    """The suite with some plan settings replaced (from the command line), validated."""
    changed = {k: v for k, v in overrides.items() if v is not None}
    plan = replace(suite.plan, **changed)
    if "min_rounds" in changed and "max_rounds" not in changed and plan.max_rounds < plan.min_rounds:
        plan = replace(plan, max_rounds=plan.min_rounds)
    return replace(suite, plan=plan.validate("command line"))


def _only(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise VBenchError(f"{where}: unknown field {unknown[0]!r}; allowed: {', '.join(sorted(allowed))}")


def _string(table: dict, key: str, where: str, required: bool = False) -> str | None:
    value = table.get(key)
    if value is None:
        if required:
            raise VBenchError(f"{where}: {key}: required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise VBenchError(f"{where}: {key}: expected a non-empty string, got {value!r}")
    return value


def _string_list(table: dict, key: str, where: str) -> list[str] | None:
    value = table.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise VBenchError(f"{where}: {key}: expected a non-empty list of strings, got {value!r}")
    return value


def _table(table: dict, key: str, where: str) -> dict:
    value = table.get(key, {})
    if not isinstance(value, dict):
        raise VBenchError(f"{where}: {key}: expected a table, got {value!r}")
    return value


def _check_int(where: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise VBenchError(f"{where}: expected an integer from {low} to {high}, got {value!r}")
