"""What the CLI shows: the progress bar with ETA, the summary table, listings and doctor's checks (rich)."""
from __future__ import annotations

import math
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)
from rich.table import Table

# Piped output gets a wide table rather than rich's 80-column default.
out = Console(highlight=False, width=None if sys.stdout.isatty() else 160)
err = Console(stderr=True, highlight=False, width=None if sys.stderr.isatty() else 160)


class RichProgress:
    """Progress of a run on stderr: trials done of planned, elapsed, ETA, the trial in flight."""

    def __init__(self):
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=err,
                             transient=False)
        self._task = None

    def started(self, run_dir: Path, planned_trials: int) -> None:
        err.print(f"run directory: {run_dir}")
        self._bar.start()
        self._task = self._bar.add_task("starting", total=planned_trials)

    def skipped(self, count: int) -> None:
        if count:
            self._bar.advance(self._task, count)
            err.print(f"resuming: {count} finished trial(s) kept")

    def trial_started(self, case, round_index: int, where: str | None = None) -> None:
        kind = "warmup" if round_index < 0 else f"round {round_index}"
        self._bar.update(self._task, description=f"{kind} {case.name} @ {where or case.env.label}")

    def trial_finished(self, trial: dict) -> None:
        self._bar.advance(self._task)
        if not err.is_terminal:  # a log (CI, a pipe) gets one line per trial instead of a live bar
            task = self._bar.tasks[0]
            err.print(f"[{task.completed:.0f}/{task.total:.0f}] {trial['trial_id']}: {trial['status']} "
                      f"{_primary_text(trial)}", markup=False, highlight=False)
        if trial["status"] != "ok":
            self._bar.console.print(f"[yellow]{trial['status']}[/]: {trial['case']} @ {trial['environment']}: "
                                    f"{escape(trial.get('error') or '')}", markup=True, highlight=False)

    def replanned(self, planned_trials: int, reason: str) -> None:
        self._bar.update(self._task, total=planned_trials)
        self._bar.console.print(f"another round: {reason}")

    def note(self, text: str) -> None:
        (self._bar.console if self._task is not None else err).print(f"vbench: {escape(text)}", highlight=False)

    def close(self) -> None:
        if self._task is not None:  # stopping a bar never started prints a blank line on a non-terminal
            self._bar.stop()


def _primary_text(trial: dict) -> str:
    metric = trial.get("metrics", {}).get(trial.get("primary") or "")
    return f"{trial['primary']}={metric['value']:.4g} {metric['unit']}" if metric else ""


def print_summary(run_dir: Path, frame=None, table=None) -> None:
    """The overhead of every environment against native on each case's primary metric (a view of the run's
    overhead table, ``vbench.summary``)."""
    import vbench
    from vbench import summary

    frame = vbench.load(run_dir) if frame is None else frame
    table = summary.overheads(frame) if table is None else table
    meta = frame.attrs["run"]
    rounds = meta.get("rounds", {})
    out.print(f"[bold]{meta['suite']['name']}[/] suite, run {meta['run_id']}: {rounds.get('done')} measured "
              f"rounds (planned at least {rounds.get('planned_min')}, cap {rounds.get('max')}); "
              f"stopped: {rounds.get('stop_reason', meta.get('status'))}")
    for label, reason in meta.get("skipped_environments", {}).items():
        out.print(f"skipped {label}: {reason}")
    for label, fp in meta.get("env_fingerprints", {}).items():
        if fp.get("accelerator"):
            out.print(f"{label}: accelerator {fp['accelerator']} ({fp.get('accelerator_reason')}); "
                      f"boot {fp.get('boot_s')}s")
    primary = frame[frame["primary"]]
    table = table[table["primary"].astype(bool)]
    emulated = set(frame.loc[frame["accelerator"] == "tcg", "environment"])
    view = Table(title="overhead vs native (primary metric; positive = slower; paired by round)", show_lines=False)
    for column in ("case", "environment", "metric", "native", "env", "overhead", "95% CI", "p", "pairs", "verdict"):
        view.add_column(column, justify="right" if column in ("native", "env", "overhead", "pairs", "p") else "left")
    for row in table.itertuples(index=False):
        environment = f"{row.environment} (TCG emulation)" if row.environment in emulated else row.environment
        view.add_row(row.case, environment, f"{row.metric} ({row.unit})", _num(row.baseline_median),
                     _num(row.env_median), _pct(row.overhead_pct), f"[{_pct(row.ci_low)}, {_pct(row.ci_high)}]",
                     _num(row.p_value, 3), _pairs(row), row.verdict)
    if table.empty:
        baseline = primary[~primary["warmup"] & (primary["status"] == "ok")]
        for (case, metric, unit), group in baseline.groupby(["case", "metric", "unit"]):
            view.add_row(case, "native", f"{metric} ({unit})", _num(group["value"].median()), "", "", "", "",
                         str(len(group)), "baseline only")
    out.print(view)
    floor = aa_floor_line(table)
    if floor:
        out.print(floor)
    failed = frame[(frame["status"] != "ok")].drop_duplicates("trial_id")
    for (case, environment, status), group in failed.groupby(["case", "environment", "status"]):
        error = str(group["error"].iloc[0] or "")
        out.print(f"[yellow]{len(group)} {status}[/] {escape(case)} @ {escape(environment)}: {escape(error)}")
    flagged = frame[frame["flags"].str.len() > 0].drop_duplicates("trial_id")
    if len(flagged):
        out.print(f"{len(flagged)} trial(s) flagged (all kept in the analysis): "
                  + ", ".join(sorted(set(",".join(flagged["flags"]).split(",")))))
    for line in io_mode_lines(frame):
        out.print(line)
    out.print(f"results: {run_dir}")


def io_mode_lines(frame) -> list[str]:
    """One line per end-to-end I/O mode with the environments that ran in it; the host path each environment
    has is the report's method section (naming it here made one line of every host's words)."""
    from vbench.validity import effective_mode

    modes: dict[str, set[str]] = {}
    for io_mode, environment in frame[["io_mode", "environment"]].dropna().drop_duplicates().itertuples(index=False):
        modes.setdefault(effective_mode(io_mode) or io_mode, set()).add(environment)
    if not modes:
        return []
    return ["I/O modes (host paths: the report's method section):",
            *(f"  {escape(mode)}: {escape(', '.join(sorted(envs)))}" for mode, envs in sorted(modes.items()))]


def _pairs(row) -> str:
    """How many pairs decided the row; for an unpaired comparison, the trials on each side."""
    from vbench import stats  # numpy: not at the console's import, which every command pays

    return stats.pairs_text(row)


def aa_floor_line(table) -> str | None:
    """What the A/A control (native:aa against native) says about this run's noise, in one line."""
    from vbench.model import AA_CONTROL

    control = table[table["environment"] == AA_CONTROL]
    floors = control["aa_floor_pct"].dropna()
    if control.empty:
        return None
    if floors.empty:
        return f"A/A noise floor ({AA_CONTROL} vs native): unknown ({control['verdict'].iloc[0]})"
    return (f"A/A noise floor ({AA_CONTROL} vs native, the largest overhead its 95% CI allows): median "
            f"{floors.median():.1f}%, from {floors.min():.1f}% to {floors.max():.1f}% over {len(floors)} case(s); "
            "an effect inside its case's floor is marked so")


def print_listing() -> None:
    from vbench import catalog, envs
    from vbench.suite import builtin_names, load_suite

    suites = Table(title="suites")
    for column in ("suite", "workloads", "default environments", "description"):
        suites.add_column(column)
    for name in builtin_names():
        suite = load_suite(name)
        suites.add_row(name, str(len(suite.entries)), ", ".join(suite.environments), suite.description)
    out.print(suites)
    workloads = Table(title="workloads")
    for column in ("workload", "metrics (primary first)", "what it measures"):
        workloads.add_column(column)
    for name in catalog.workload_names():
        info = catalog.describe(name)
        metrics = sorted(info.metrics, key=lambda m: m != info.primary)
        workloads.add_row(name, ", ".join(f"{m} ({info.metrics[m][0]})" for m in metrics), info.summary)
    out.print(workloads)
    environments = Table(title="environments")
    for column in ("environment", "variants", "available here"):
        environments.add_column(column)
    for kind in sorted(envs.BUILTIN):
        cls = envs.env_class(kind)
        availability = cls.available()
        here = "yes" if availability.ok else f"no: {availability.reason}"
        if availability.ok and cls.available_variant.__func__ is not envs.Environment.available_variant.__func__:
            missing = [(v, cls.available_variant(v)) for v in cls.variants]
            here += "".join(f"; {v} no: {a.reason}" for v, a in missing if not a.ok)
        environments.add_row(kind, ", ".join(cls.variants) or "-", here)
    out.print(environments)


def print_checks(checks) -> None:
    table = Table(title="vbench doctor")
    for column in ("check", "status", "detail"):
        table.add_column(column)
    for check in checks:
        table.add_row(check.name, "[green]ok[/]" if check.ok else "[red]no[/]", check.detail)
    out.print(table)


def _num(value: float, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}g}"


def _pct(value: float) -> str:
    if value is None or math.isnan(value):
        return "-"
    return f"{value:+.1f}%"


def print_images(rows: list[dict]) -> None:
    table = Table(title="cached guest images")
    for column in ("recipe hash", "docker tag", "size", "current recipe", "directory"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["hash"], row["tag"], f"{row['bytes'] / 2**20:.0f} MiB", "yes" if row["current"] else "no",
                      row["dir"])
    out.print(table)
    if not rows:
        out.print("no guest image is built yet: vbench images build")
