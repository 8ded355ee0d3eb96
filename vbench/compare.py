"""Compare the same cases in two runs, or in two groups of runs: two hosts, two dates or two versions
(``vbench compare A B``, ``vbench compare A1 A2 -- B1 B2``).

Rows are matched by (case, environment, metric) on each case's primary metric, measured (non-warmup) trials with
status ok only. For each match the change is how much slower B is than A, in percent, so that positive always
means a regression: ``A/B - 1`` for a higher-is-better metric, ``B/A - 1`` for a time or latency metric.

The run is the unit. Two runs of the same code on one host differ by more than their trials say (another boot,
another page cache, another place on the disk), so trials of two runs are not one sample:

- **Several runs a side**: each run's level is the median of its trials (in logs); the change and its 95% CI come
  from those levels (Welch's t, the runs as the observations), so run-to-run variation is in the interval.
- **Several runs on one side, one on the other** (a baseline set, such as the last few nightly runs, against
  tonight's): the one run's level against the others' mean, with the t prediction interval of a new run from
  their spread (``s * sqrt(1 + 1/k)``, k - 1 degrees of freedom).
- **One run a side**: run-to-run variation is unknown, and the output says so. The interval is the two-sample
  Hodges-Lehmann shift of the trials with its Mann-Whitney interval: it holds the trials' noise only. (The runs'
  A/A floors measure noise within a run, not between runs, so they do not stand in for it.)

A change is significant when its CI excludes 0. ``--fail-above P`` fires only for a change whose 95% CI's lower
bound is above P: the one-sided test at ALPHA / 2 for every key, corrected across keys with Holm's procedure. It
needs run-to-run variation, so it refuses one run a side (``ONE_RUN_GATE``).

Cases measured in only one run are listed, not compared. Differences that make the comparison less like-for-like
(the suite's parameters for a case, the host's CPU or kernel, the vbench version, a VM's accelerator, an
unfinished run) are reported as notes; the comparison is still made.

Exit codes for the CLI: 0 when the comparison is made; ``EXIT_REGRESSION`` (3) with ``--fail-above PCT`` when
:func:`regressions_above` finds a regression larger than PCT percent, so that CI gating can tell a regression
from an error (1: not a run directory, a newer schema, no case in common, all as ``VBenchError``).
:func:`exit_code` computes it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np

from vbench import fmt, rankstats, stats, validity
from vbench.store import status_text
from vbench.errors import EXIT_OK, VBenchError

if TYPE_CHECKING:
    import pandas as pd
    from rich.console import RenderableType

EXIT_REGRESSION = 3
ALPHA = 0.05
REGRESSION = "regression"
IMPROVEMENT = "improvement"
NO_CHANGE = "no significant change"
TOO_FEW = "too few trials"
HOST_KEYS = ("cpu_model", "cpu_logical", "kernel")
KEY = ["case", "environment", "metric"]
RUNS, TRIALS = "runs", "trials"  # the two methods: runs as the unit, or one run a side
ONE_RUN_NOTE = ("one run a side: run-to-run variation is unknown, so each interval holds only the trials' noise; "
                "give several runs on a side (A1 A2 A3 -- B) to measure it")
ONE_RUN_GATE = ("--fail-above needs run-to-run variation, which one run a side cannot show (two runs of the same "
                "code differ by more than their trials say): give several runs on a side, e.g. the last few "
                "nightly runs as a baseline set: vbench compare A1 A2 A3 -- B --fail-above PCT")


@dataclass(frozen=True)
class Change:
    """The change of one case's primary metric in one environment from A to B.

    ``change_pct`` is how much slower B is than A (positive: a regression), with its CI bounds ``ci_low`` and
    ``ci_high`` (nan when unknown); ``n_a`` and ``n_b`` count the trials used, ``runs_a`` and ``runs_b`` the
    runs; ``method`` says which interval (``runs`` or ``trials``); ``log_change`` and ``log_se`` are the
    change's log and its standard error, for the one-sided tests of ``--fail-above``."""

    case: str
    environment: str
    metric: str
    unit: str
    median_a: float
    median_b: float
    change_pct: float
    ci_low: float
    ci_high: float
    p_value: float
    n_a: int
    n_b: int
    significant: bool
    verdict: str
    runs_a: int = 1
    runs_b: int = 1
    method: str = TRIALS
    log_change: float = math.nan
    log_se: float = math.nan
    df: float = math.inf


@dataclass(frozen=True)
class Comparison:
    """B against A: the matched changes, what only one side measured, and why to read it with care."""

    run_a: str
    run_b: str
    changes: list[Change]
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def compare_runs(run_a: str | Path | Sequence[str | Path], run_b: str | Path | Sequence[str | Path]) -> Comparison:
    """Compare B with A, each a run directory or a list of them; raises VBenchError when they have no case in
    common."""
    import vbench

    paths_a, paths_b = _paths(run_a), _paths(run_b)
    frames_a, frames_b = [vbench.load(p) for p in paths_a], [vbench.load(p) for p in paths_b]
    metas_a, metas_b = [f.attrs["run"] for f in frames_a], [f.attrs["run"] for f in frames_b]
    used_a, used_b = [_measured(f) for f in frames_a], [_measured(f) for f in frames_b]
    keys_a = set.intersection(*(_keys(u) for u in used_a))
    keys_b = set.intersection(*(_keys(u) for u in used_b))
    common = sorted(keys_a & keys_b)
    name_a, name_b = _name(metas_a), _name(metas_b)
    if not common:
        raise VBenchError(f"{name_a} and {name_b} have no measured case in common")
    notes = _run_notes(metas_a[0], metas_b[0])
    for metas in (metas_a, metas_b):  # the runs of one side should be alike too
        notes += [note for meta in metas[1:] for note in _run_notes(metas[0], meta) if "differ" in note]
    notes += _failure_notes("A", frames_a[0], keys_a) + _failure_notes("B", frames_b[0], keys_b)
    if len(paths_a) == 1 or len(paths_b) == 1:
        notes.insert(0, ONE_RUN_NOTE)
    groups_a, groups_b = [dict(list(u.groupby(KEY))) for u in used_a], [dict(list(u.groupby(KEY))) for u in used_b]
    changes = []
    for key in common:
        change = _change(key, [g[key] for g in groups_a], [g[key] for g in groups_b])
        if isinstance(change, str):
            notes.append(change)
        else:
            changes.append(change)
    return Comparison(name_a, name_b, changes, _labels(keys_a - keys_b), _labels(keys_b - keys_a), notes)


def _paths(runs: str | Path | Sequence[str | Path]) -> list[str | Path]:
    return [runs] if isinstance(runs, (str, Path)) else list(runs)


def _name(metas: list[dict]) -> str:
    ids = [str(m.get("run_id")) for m in metas]
    return ids[0] if len(ids) == 1 else f"{ids[0]} and {len(ids) - 1} more"


def regressions_above(comparison: Comparison, pct: float) -> list[Change]:
    """The changes whose regression is shown to exceed ``pct`` percent: the one-sided test at ALPHA / 2 that the
    change is above ``pct`` (with one key, exactly when the 95% CI's lower bound is above it), Holm-corrected
    across every key. Only changes whose interval holds run-to-run variation (``RUNS``) can count."""
    limit = math.log1p(max(pct, 0.0) / 100.0)  # a regression is at least a slowdown
    p_values = [_above_p(c, limit) if c.method == RUNS else math.nan for c in comparison.changes]
    return [c for c, hit in zip(comparison.changes, rankstats.holm(p_values, ALPHA / 2)) if hit]


def gate_ready(comparison: Comparison) -> bool:
    """Whether ``--fail-above`` can judge this comparison: some change's interval holds run-to-run variation."""
    return any(c.method == RUNS for c in comparison.changes)


def _above_p(change: Change, limit: float) -> float:
    if not (math.isfinite(change.log_change) and math.isfinite(change.log_se)) or change.log_se <= 0:
        return math.nan
    from scipy import stats as sps

    t = (change.log_change - limit) / change.log_se
    return float(sps.t.sf(t, change.df) if math.isfinite(change.df) else sps.norm.sf(t))


def exit_code(comparison: Comparison, fail_above: float | None) -> int:
    """The CLI's exit code: ``EXIT_REGRESSION`` when ``--fail-above`` is given and exceeded, else 0; a
    VBenchError (``ONE_RUN_GATE``) when it is given and no interval holds run-to-run variation."""
    if fail_above is not None and not gate_ready(comparison):
        raise VBenchError(ONE_RUN_GATE)
    if fail_above is not None and regressions_above(comparison, fail_above):
        return EXIT_REGRESSION
    return EXIT_OK


def _measured(frame: "pd.DataFrame") -> "pd.DataFrame":
    rows = stats.measured(frame)
    return rows[rows["primary"].astype(bool)]


def _keys(used: "pd.DataFrame") -> set[tuple[str, str, str]]:
    return set(used[KEY].itertuples(index=False, name=None))


def _labels(keys: set[tuple[str, str, str]]) -> list[str]:
    return [f"{case} @ {environment} ({metric})" for case, environment, metric in sorted(keys)]


def _change(key: tuple[str, str, str], a: list["pd.DataFrame"], b: list["pd.DataFrame"]) -> Change | str:
    """The change for one key, or a note saying why the two cannot be compared."""
    case, environment, metric = key
    units = {(g["unit"].iloc[0], bool(g["higher_is_better"].iloc[0])) for g in [*a, *b]}
    if len(units) > 1:
        return f"{case} @ {environment}: {metric} is not comparable ({sorted(units)}); left out"
    unit, higher_is_better = units.pop()
    why = validity.mismatch(set().union(*map(stats.operations, a)), set().union(*map(stats.operations, b)))
    if why:  # another I/O engine, queue depth or end-to-end mode in B than in A ("baseline" is A)
        return f"{case} @ {environment}: {why}; left out"
    sign = -1.0 if higher_is_better else 1.0  # a log cost: positive when B is slower
    logs_a = [sign * np.log(_positive(g)) for g in a]
    logs_b = [sign * np.log(_positive(g)) for g in b]
    if len(a) > 1 and len(b) > 1:
        estimate = _between_runs(logs_a, logs_b)
    elif len(a) > 1 or len(b) > 1:
        estimate = _against_runs(logs_a, logs_b)
    else:
        estimate = _within_runs(logs_a, logs_b)
    center, low, high, se, df, p = estimate
    significant = math.isfinite(low) and (low > 0 or high < 0)
    verdict = TOO_FEW if not math.isfinite(low) else NO_CHANGE if not significant else \
        REGRESSION if low > 0 else IMPROVEMENT
    return Change(case, environment, metric, unit, stats.median(np.concatenate([_positive(g) for g in a])),
                  stats.median(np.concatenate([_positive(g) for g in b])), stats.to_pct(center), stats.to_pct(low),
                  stats.to_pct(high), p, sum(len(g) for g in a), sum(len(g) for g in b), significant, verdict,
                  len(a), len(b), RUNS if len(a) > 1 or len(b) > 1 else TRIALS, center, se, df)


def _positive(group: "pd.DataFrame") -> np.ndarray:
    values = group["value"].to_numpy(dtype=float)
    positive: np.ndarray = values[np.isfinite(values) & (values > 0)]
    return positive


def _between_runs(logs_a: list[np.ndarray], logs_b: list[np.ndarray]) -> tuple:
    """Welch's t on the runs' levels (the median of each run's log costs): (center, low, high, se, df, p)."""
    from scipy import stats as sps

    level_a = np.array([np.median(x) for x in logs_a])
    level_b = np.array([np.median(x) for x in logs_b])
    center = float(level_b.mean() - level_a.mean())
    va, vb = level_a.var(ddof=1) / level_a.size, level_b.var(ddof=1) / level_b.size
    se = math.sqrt(va + vb)
    if se == 0:
        return center, math.nan, math.nan, 0.0, math.inf, math.nan
    df = (va + vb) ** 2 / (va ** 2 / (level_a.size - 1) + vb ** 2 / (level_b.size - 1))
    half = float(sps.t.ppf(1 - ALPHA / 2, df)) * se
    p = float(2 * sps.t.sf(abs(center) / se, df))
    return center, center - half, center + half, se, df, p


def _against_runs(logs_a: list[np.ndarray], logs_b: list[np.ndarray]) -> tuple:
    """One run against a set of runs (either side): the one run's level minus the set's mean level, with the t
    prediction interval of a new run from the set's spread: (center, low, high, se, df, p)."""
    from scipy import stats as sps

    sign = 1.0 if len(logs_a) > 1 else -1.0  # the change is B minus A whichever side is the set
    many, one = (logs_a, logs_b) if len(logs_a) > 1 else (logs_b, logs_a)
    levels = np.array([np.median(x) for x in many])
    center = sign * float(np.median(one[0]) - levels.mean())
    se = float(levels.std(ddof=1)) * math.sqrt(1 + 1 / levels.size)
    df = float(levels.size - 1)
    if se == 0:
        return center, math.nan, math.nan, 0.0, df, math.nan
    half = float(sps.t.ppf(1 - ALPHA / 2, df)) * se
    p = float(2 * sps.t.sf(abs(center) / se, df))
    return center, center - half, center + half, se, df, p


def _within_runs(logs_a: list[np.ndarray], logs_b: list[np.ndarray]) -> tuple:
    """The trials' two-sample Hodges-Lehmann shift and Mann-Whitney interval (the trials' noise only; the run
    is not the unit here): (center, low, high, se, df, p)."""
    shift = rankstats.two_sample_shift(np.concatenate(logs_a), np.concatenate(logs_b), 1 - ALPHA)
    if not math.isfinite(shift.low):
        return shift.point, math.nan, math.nan, math.nan, math.inf, shift.p_value
    se = max(shift.point - shift.low, shift.high - shift.point) / 1.959963984540054
    return shift.point, shift.low, shift.high, se, math.inf, shift.p_value


def _run_notes(meta_a: dict, meta_b: dict) -> list[str]:
    """What differs between the two runs beyond the measurements."""
    notes = _param_notes(meta_a.get("suite", {}), meta_b.get("suite", {}))
    host_a, host_b = meta_a.get("host", {}), meta_b.get("host", {})
    differ = [f"{k}: A {host_a.get(k)!r}, B {host_b.get(k)!r}" for k in HOST_KEYS if host_a.get(k) != host_b.get(k)]
    if differ:
        notes.append("the hosts differ (" + "; ".join(differ) + "): a change may be the host's, not the code's")
    if meta_a.get("vbench_version") != meta_b.get("vbench_version"):
        notes.append(f"vbench versions differ: A {meta_a.get('vbench_version')}, B {meta_b.get('vbench_version')}")
    notes += _accelerator_notes(meta_a.get("env_fingerprints", {}), meta_b.get("env_fingerprints", {}))
    for name, meta in (("A", meta_a), ("B", meta_b)):
        if meta.get("status") != "complete":
            notes.append(f"run {name} ({meta.get('run_id')}) is not complete: status {status_text(meta)!r}")
        if meta.get("note"):
            notes.append(f"run {name}: {meta['note']}")
    return notes


def _param_notes(suite_a: dict, suite_b: dict) -> list[str]:
    entries_a = {e.get("name"): e for e in suite_a.get("entries", [])}
    entries_b = {e.get("name"): e for e in suite_b.get("entries", [])}
    notes = []
    for name in sorted(set(entries_a) & set(entries_b), key=str):
        a, b = entries_a[name], entries_b[name]
        if a.get("workload") != b.get("workload"):
            notes.append(f"{name}: different workloads: A {a.get('workload')}, B {b.get('workload')}")
        elif a.get("params") != b.get("params"):
            notes.append(f"{name}: the suites' parameters differ: A {a.get('params')}, B {b.get('params')}")
    return notes


def _accelerator_notes(fingerprints_a: dict, fingerprints_b: dict) -> list[str]:
    notes = []
    for label in sorted(set(fingerprints_a) & set(fingerprints_b)):
        acc_a, acc_b = fingerprints_a[label].get("accelerator"), fingerprints_b[label].get("accelerator")
        if acc_a != acc_b:
            notes.append(f"{label}: accelerators differ: A {acc_a}, B {acc_b} (TCG is emulation, not KVM)")
    return notes


def _failure_notes(name: str, frame: "pd.DataFrame", measured: set[tuple[str, str, str]]) -> list[str]:
    """A note for each (case, environment) of a run that has failed measured trials and no ok one."""
    ok = {(case, environment) for case, environment, _ in measured}
    failed = frame[~frame["warmup"] & (frame["status"] != "ok")].drop_duplicates("trial_id")
    notes = []
    for (case, environment), group in failed.groupby(["case", "environment"]):
        if (case, environment) not in ok:
            statuses = ", ".join(sorted(set(group["status"])))
            notes.append(f"run {name}: {case} @ {environment} has no ok trial ({len(group)} {statuses})")
    return notes


def format_text(comparison: Comparison) -> "RenderableType":
    """The comparison as rich renderables for the terminal: the table, then what only one run has, then notes."""
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"{escape(comparison.run_b)} (B) against {escape(comparison.run_a)} (A): "
                        "primary metric; positive = B slower")
    for column in ("case", "environment", "metric", "A", "B", "change", "95% CI", "p", "n A/B", "verdict"):
        table.add_column(column, justify="right" if column in ("A", "B", "change", "p", "n A/B") else "left")
    for c in comparison.changes:
        table.add_row(Text(c.case), Text(c.environment), Text(f"{c.metric} ({c.unit})"),
                      fmt.quantity(c.median_a, c.unit), fmt.quantity(c.median_b, c.unit),
                      fmt.signed_pct(c.change_pct), fmt.change_interval(c.ci_low, c.ci_high),
                      fmt.sig(c.p_value, 3), _counts(c), Text(c.verdict, style=_STYLES.get(c.verdict, "")))
    lines = [Text(f"only in {name}: {', '.join(labels)}") for name, labels in
             (("A", comparison.only_a), ("B", comparison.only_b)) if labels]
    lines += [Text(f"note: {note}", style="yellow") for note in comparison.notes]
    return Group(table, *lines)


_STYLES = {REGRESSION: "red", IMPROVEMENT: "green"}


def _counts(c: Change) -> str:
    """Trials a side, and the runs where the runs are the unit."""
    return f"{c.n_a}/{c.n_b}" if c.method == TRIALS else f"{c.runs_a}/{c.runs_b} runs ({c.n_a}/{c.n_b} trials)"


COMPARE_TEMPLATE = "compare.html.j2"


def format_html(comparison: Comparison) -> str:
    """A small self-contained HTML page of the comparison: inline CSS, no external resources, every string escaped
    (the report's template environment renders ``report/compare.html.j2``)."""
    from vbench.report import templates

    rows = [{"case": c.case, "environment": c.environment, "metric": c.metric, "unit": c.unit,
             "a": fmt.quantity(c.median_a, c.unit), "b": fmt.quantity(c.median_b, c.unit),
             "change": fmt.signed_pct(c.change_pct),
             "ci": fmt.change_interval(c.ci_low, c.ci_high), "p": fmt.sig(c.p_value, 3), "n": _counts(c),
             "verdict": c.verdict, "css": c.verdict if c.verdict in _STYLES else ""} for c in comparison.changes]
    return str(templates().get_template(COMPARE_TEMPLATE).render(c=comparison, rows=rows))
