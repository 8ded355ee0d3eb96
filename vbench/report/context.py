"""Everything the report template shows, computed from a run's tidy frame: plain dicts, lists and strings."""
from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vbench import fmt, stats
from vbench.store import status_text
from vbench.report import fields, figures, method, timeseries
from vbench.report.labels import BASELINE, case_order, environment_colors, environment_labels, environment_order
from vbench.report.verdicts import verdict_section

if TYPE_CHECKING:
    import pandas as pd


def report_context(run_dir: Path, frame: "pd.DataFrame") -> dict:
    """The template's context for the run in ``run_dir`` whose trials are ``frame`` (from ``vbench.load``)."""
    from vbench import summary

    meta = frame.attrs.get("run", {})
    labels, envs, cases = environment_labels(frame), environment_order(frame), case_order(frame)
    colors = environment_colors(envs)
    primary = frame[frame["primary"].astype(bool)]
    measured = stats.measured(primary)
    measured = measured[measured["value"].notna()]
    trials = frame.drop_duplicates("trial_id")
    table = summary.overheads(frame)
    table = table[table["primary"].astype(bool)]
    bars = figures.overhead_bars(table, cases, envs, labels, colors)
    return {
        "header": header(meta, trials, envs, cases, labels),
        "answer": answer(table, envs, cases, labels, colors),
        "verdicts": verdict_section(frame, labels),
        "overhead": {"figure": bars[0] if bars else None, "symlog": bool(bars and bars[1]),
                     "linthresh": figures.LINTHRESH, "rows": overhead_rows(table, cases, envs, labels),
                     "baseline": baseline_rows(measured, cases) if table.empty else []},
        "distribution": figures.distributions(measured, cases, envs, labels, colors),
        "timeseries": timeseries_section(run_dir, measured, cases, envs, labels),
        "host": fields.definition_rows(meta.get("host")),
        "environments": method.environment_cards(meta, envs, labels),
        "method": method.method(meta, trials, envs, labels),
        "raw": raw_rows(frame, labels),
        "lag1_threshold": stats.LAG1_THRESHOLD,
    }


def answer(table: "pd.DataFrame", envs: list[str], cases: list[str], labels: dict[str, str],
           colors: dict[str, str]) -> dict:
    """The report's first screen: what each environment costs here (a line each), the A/A floor, and the forest
    plot of every overhead."""
    from vbench import summary
    from vbench.model import AA_CONTROL

    rest = table[table["environment"] != AA_CONTROL]
    floors = table.loc[table["environment"] == AA_CONTROL, "aa_floor_pct"].dropna()
    costs = [{"environment": labels.get(e, e), "cost": summary.cost_text(rest[rest["environment"] == e])}
             for e in envs if e in set(rest["environment"])]
    floor = float(floors.median()) if len(floors) else None
    return {"costs": costs, "floor": summary.aa_floor_line(table),
            "figure": figures.forest(rest, cases, [e for e in envs if e != AA_CONTROL], labels, colors, floor)}


def header(meta: dict, trials: "pd.DataFrame", envs: list[str], cases: list[str], labels: dict[str, str]) -> dict:
    """The title block and the facts the "what this is" paragraph needs."""
    suite = meta.get("suite") or {}
    host = meta.get("host") or {}
    return {
        "suite": str(suite.get("name") or "?"), "description": suite.get("description"),
        "quick": bool(suite.get("quick")), "run_id": str(meta.get("run_id") or "?"),
        "started": when(meta.get("started_at")), "ended": when(meta.get("ended_at")),
        "status": status_text(meta),
        "complete": meta.get("status") == "complete",
        "others": [labels.get(e, e) for e in envs if e != BASELINE],
        "emulated": [labels[e] for e in envs if labels.get(e, e) != e],
        "cases": len(cases), "trials": len(trials), "rounds": (meta.get("rounds") or {}).get("done"),
        "warmup_rounds": (suite.get("plan") or {}).get("warmup_rounds"),
        "machine": ", ".join(str(host[k]) for k in ("cpu_model", "os", "kernel") if host.get(k)),
        "vbench": meta.get("vbench_version"),
    }


def when(stamp: Any) -> str:
    """An ISO timestamp as "2026-11-29 12:12:57 UTC"; anything else as given, or "-"."""
    if not stamp:
        return "-"
    try:
        moment = datetime.fromisoformat(str(stamp))
    except ValueError:
        return str(stamp)
    zone = moment.tzname()
    suffix = " UTC" if zone in ("UTC", "UTC+00:00") else f" {zone}" if zone else ""
    return moment.strftime("%Y-%m-%d %H:%M:%S") + suffix


def overhead_rows(table: "pd.DataFrame", cases: list[str], envs: list[str], labels: dict[str, str]) -> list[dict]:
    """The overhead table in suite and environment order, formatted."""
    case_rank, env_rank = {c: i for i, c in enumerate(cases)}, {e: i for i, e in enumerate(envs)}
    rows = sorted(table.itertuples(index=False),
                  key=lambda r: (case_rank.get(r.case, len(cases)), env_rank.get(r.environment, len(envs))))
    return [{"case": r.case, "environment": labels.get(r.environment, r.environment), "metric": r.metric,
             "unit": r.unit, "native": fmt.quantity(r.baseline_median, r.unit),
             "env": fmt.quantity(r.env_median, r.unit),
             "overhead": fmt.overhead_pct(r.overhead_pct), "ci": fmt.interval(r.ci_low, r.ci_high),
             "p": fmt.p_value(r.p_value), "n": stats.pairs_text(r), "method": r.method,
             "lag1": fmt.correlation(r.lag1_autocorr), "aa_floor": fmt.overhead_pct(r.aa_floor_pct).lstrip("+"),
             **_finding(r.verdict)} for r in rows]


def _finding(verdict: str) -> dict:
    """The stats label without its number (the table shows it already): slower, faster, or as given."""
    for direction in ("slower", "faster"):
        if f"({direction}" in verdict:
            return {"verdict": direction, "css": direction}
    return {"verdict": verdict, "css": "same"}


def baseline_rows(measured: "pd.DataFrame", cases: list[str]) -> list[dict]:
    """The baseline's median per case, for a run with nothing to compare."""
    rows = []
    for case in cases:
        group = measured[(measured["case"] == case) & (measured["environment"] == BASELINE)]
        if len(group):
            rows.append({"case": case, "metric": group["metric"].iloc[0], "unit": group["unit"].iloc[0],
                         "median": fmt.quantity(group["value"].median(), group["unit"].iloc[0]),
                         "n": len(group)})
    return rows


def timeseries_section(run_dir: Path, measured: "pd.DataFrame", cases: list[str], envs: list[str],
                       labels: dict[str, str]) -> list[dict]:
    """Per environment, its typical trial and the figure of its collectors' series (or why there is none)."""
    from vbench.store import iter_trials

    chosen = timeseries.typical_trials(measured, cases, envs)
    wanted = {c["trial_id"] for c in chosen}
    paths = {t.trial_id: t.samples for t in iter_trials(run_dir) if t.trial_id in wanted}
    for entry in chosen:
        series, note = timeseries.load_samples(run_dir, paths.get(entry["trial_id"]))
        entry["figure"] = timeseries.collector_figure(series) if series else None
        entry["note"] = note
        entry["environment"] = labels.get(entry["environment"], entry["environment"])
    return chosen


def raw_rows(frame: "pd.DataFrame", labels: dict[str, str]) -> list[dict]:
    """One row per trial (its primary metric, or its first row when it has none), in the order they ran."""
    import pandas as pd

    primary = frame[frame["primary"].astype(bool)]
    rest = frame[~frame["trial_id"].isin(set(primary["trial_id"]))].drop_duplicates("trial_id")
    rows = pd.concat([primary, rest]) if len(rest) else primary
    rows = rows.assign(_when=rows["started_at"].fillna("").astype(str)).sort_values(["_when", "trial_id"])
    return [{"trial_id": r.trial_id, "round": "warmup" if r.warmup else r.round, "case": r.case,
             "environment": labels.get(r.environment, r.environment),
             "metric": r.metric if isinstance(r.metric, str) else "-", "value": fmt.quantity(r.value, r.unit),
             "status": r.status,
             "flags": r.flags or "", "error": r.error if isinstance(r.error, str) else ""}
            for r in rows.itertuples(index=False)]
