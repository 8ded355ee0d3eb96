"""Compare two runs of the same cases: two hosts, two dates or two versions (``vbench compare A B``).

Rows are matched by (case, environment, metric) on each case's primary metric, measured (non-warmup) trials with
status ok only. For each match the change is how much slower B is than A, in percent, so that positive always
means a regression: ``A/B - 1`` for a higher-is-better metric, ``B/A - 1`` for a time or latency metric. It is
:func:`vbench.stats.overhead` with A in the baseline's place: the point estimate from the medians, a 95%
bootstrap CI over trials and a two-sided Mann-Whitney p-value. A change is significant when the CI excludes 0
and p < 0.05. "too few trials" means the CI cannot be computed (fewer than 2 trials on a side) or so few trials
that no outcome could reach p < 0.05 (3 against 3, for example).

Cases measured in only one run are listed, not compared. Differences that make the comparison less like-for-like
(the suite's parameters for a case, the host's CPU or kernel, the vbench version, a VM's accelerator, an
unfinished run) are reported as notes; the comparison is still made.

Exit codes for the CLI: 0 when the comparison is made; ``EXIT_REGRESSION`` (3) with ``--fail-above PCT`` when
:func:`regressions_above` finds a significant regression larger than PCT percent, so that CI gating can tell a
regression from an error (1: not a run directory, a newer schema, no case in common, all as ``VBenchError``).
:func:`exit_code` computes it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from vbench import stats
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


@dataclass(frozen=True)
class Change:
    """The change of one case's primary metric in one environment from run A to run B.

    ``change_pct`` is how much slower B is than A (positive: a regression), with its CI bounds ``ci_low`` and
    ``ci_high`` (nan when unknown); ``n_a`` and ``n_b`` count the trials used.
    """

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


@dataclass(frozen=True)
class Comparison:
    """Run B against run A: the matched changes, what only one run measured, and why to read it with care."""

    run_a: str
    run_b: str
    changes: list[Change]
    only_a: list[str] = field(default_factory=list)
    only_b: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def compare_runs(run_a: str | Path, run_b: str | Path, seed: int = 0, n_resamples: int = 2000) -> Comparison:
    """Compare run B with run A (run directories); raises VBenchError when they have no case in common."""
    import vbench

    frame_a, frame_b = vbench.load(run_a), vbench.load(run_b)
    meta_a, meta_b = frame_a.attrs["run"], frame_b.attrs["run"]
    used_a, used_b = _measured(frame_a), _measured(frame_b)
    keys_a, keys_b = _keys(used_a), _keys(used_b)
    common = sorted(keys_a & keys_b)
    if not common:
        raise VBenchError(f"runs {meta_a['run_id']} and {meta_b['run_id']} have no measured case in common")
    notes = _run_notes(meta_a, meta_b) + _failure_notes("A", frame_a, keys_a) + _failure_notes("B", frame_b, keys_b)
    groups_a, groups_b = dict(list(used_a.groupby(KEY))), dict(list(used_b.groupby(KEY)))
    changes = []
    for key in common:
        change = _change(key, groups_a[key], groups_b[key], seed, n_resamples)
        if isinstance(change, str):
            notes.append(change)
        else:
            changes.append(change)
    return Comparison(meta_a["run_id"], meta_b["run_id"], changes, _labels(keys_a - keys_b),
                      _labels(keys_b - keys_a), notes)


def regressions_above(comparison: Comparison, pct: float) -> list[Change]:
    """The significant regressions in ``comparison`` whose change is more than ``pct`` percent."""
    return [c for c in comparison.changes if c.verdict == REGRESSION and c.change_pct > pct]


def exit_code(comparison: Comparison, fail_above: float | None) -> int:
    """The CLI's exit code: ``EXIT_REGRESSION`` when ``--fail-above`` is given and exceeded, else 0."""
    if fail_above is not None and regressions_above(comparison, fail_above):
        return EXIT_REGRESSION
    return EXIT_OK


def _measured(frame: "pd.DataFrame") -> "pd.DataFrame":
    return frame[frame["primary"].astype(bool) & ~frame["warmup"] & (frame["status"] == "ok")]


def _keys(used: "pd.DataFrame") -> set[tuple[str, str, str]]:
    return set(used[KEY].itertuples(index=False, name=None))


def _labels(keys: set[tuple[str, str, str]]) -> list[str]:
    return [f"{case} @ {environment} ({metric})" for case, environment, metric in sorted(keys)]


def _change(key: tuple[str, str, str], a: "pd.DataFrame", b: "pd.DataFrame", seed: int,
            n_resamples: int) -> Change | str:
    """The change for one key, or a note saying why the two cannot be compared."""
    case, environment, metric = key
    unit_a, unit_b = a["unit"].iloc[0], b["unit"].iloc[0]
    better_a, better_b = bool(a["higher_is_better"].iloc[0]), bool(b["higher_is_better"].iloc[0])
    if unit_a != unit_b or better_a != better_b:
        return (f"{case} @ {environment}: {metric} is not comparable (A: {unit_a}, "
                f"{_direction(better_a)}; B: {unit_b}, {_direction(better_b)}); left out")
    o = stats.overhead(a["value"], b["value"], better_a, n_resamples=n_resamples, seed=seed)
    significant = o.detectable and o.p_value < ALPHA
    return Change(case, environment, metric, unit_a, stats.median(a["value"]), stats.median(b["value"]),
                  o.point, o.low, o.high, o.p_value, o.n_native, o.n_env, significant, _verdict(o, significant))


def _direction(higher_is_better: bool) -> str:
    return "higher is better" if higher_is_better else "lower is better"


def _verdict(o: stats.Overhead, significant: bool) -> str:
    if math.isnan(o.low) or math.isnan(o.high) or _smallest_p(o.n_native, o.n_env) >= ALPHA:
        return TOO_FEW
    if not significant:
        return NO_CHANGE
    return REGRESSION if o.low > 0 else IMPROVEMENT


def _smallest_p(n_a: int, n_b: int) -> float:
    """The smallest two-sided p-value the exact Mann-Whitney test can give with these sample sizes."""
    return min(1.0, 2 / math.comb(n_a + n_b, n_a))


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
            notes.append(f"run {name} ({meta.get('run_id')}) is not complete: status {meta.get('status')!r}")
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
        table.add_row(Text(c.case), Text(c.environment), Text(f"{c.metric} ({c.unit})"), _number(c.median_a),
                      _number(c.median_b), _percent(c.change_pct), _interval(c), _number(c.p_value, 3),
                      f"{c.n_a}/{c.n_b}", Text(c.verdict, style=_STYLES.get(c.verdict, "")))
    lines = [Text(f"only in {name}: {', '.join(labels)}") for name, labels in
             (("A", comparison.only_a), ("B", comparison.only_b)) if labels]
    lines += [Text(f"note: {note}", style="yellow") for note in comparison.notes]
    return Group(table, *lines)


_STYLES = {REGRESSION: "red", IMPROVEMENT: "green"}


def _number(value: float, digits: int = 4) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:.{digits}g}"


def _percent(value: float) -> str:
    return "-" if value is None or math.isnan(value) else f"{value:+.1f}%"


def _interval(c: Change) -> str:
    return "-" if math.isnan(c.ci_low) else f"[{_percent(c.ci_low)}, {_percent(c.ci_high)}]"


_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>vbench compare: {{ c.run_b }} against {{ c.run_a }}</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; }
th, td { padding: .3em .7em; border-bottom: 1px solid #ddd; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.regression { color: #b00020; font-weight: bold; }
.improvement { color: #1b7a1b; font-weight: bold; }
.notes li { color: #8a5a00; }
</style></head><body>
<h1>{{ c.run_b }} (B) against {{ c.run_a }} (A)</h1>
<p>Primary metric of each case, measured trials only. Change = how much slower B is than A
(positive: a regression), from the medians; 95% bootstrap CI; two-sided Mann-Whitney p.
Significant: the CI excludes 0 and p &lt; 0.05.</p>
<table><thead><tr><th>case</th><th>environment</th><th>metric</th><th>A median</th><th>B median</th>
<th>change</th><th>95% CI</th><th>p</th><th>n A/B</th><th>verdict</th></tr></thead><tbody>
{% for r in rows %}<tr><td>{{ r.case }}</td><td>{{ r.environment }}</td><td>{{ r.metric }} ({{ r.unit }})</td>
<td class="num">{{ r.a }}</td><td class="num">{{ r.b }}</td><td class="num">{{ r.change }}</td>
<td class="num">{{ r.ci }}</td><td class="num">{{ r.p }}</td><td class="num">{{ r.n }}</td>
<td class="{{ r.css }}">{{ r.verdict }}</td></tr>
{% endfor %}</tbody></table>
{% if c.only_a %}<p>Only in A: {{ c.only_a | join(", ") }}</p>{% endif %}
{% if c.only_b %}<p>Only in B: {{ c.only_b | join(", ") }}</p>{% endif %}
{% if c.notes %}<h2>Notes</h2><ul class="notes">{% for n in c.notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}
</body></html>
"""


def format_html(comparison: Comparison) -> str:
    """A small self-contained HTML page of the comparison: inline CSS, no external resources, every string escaped."""
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    rows = [{"case": c.case, "environment": c.environment, "metric": c.metric, "unit": c.unit,
             "a": _number(c.median_a), "b": _number(c.median_b), "change": _percent(c.change_pct),
             "ci": _interval(c), "p": _number(c.p_value, 3), "n": f"{c.n_a}/{c.n_b}", "verdict": c.verdict,
             "css": c.verdict if c.verdict in _STYLES else ""} for c in comparison.changes]
    return env.from_string(_HTML).render(c=comparison, rows=rows)
