"""The progress of a run on stderr: trials done of planned, elapsed, ETA, the trial in flight."""
from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from vbench.console import err
from vbench.model import Trial


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

    def trial_finished(self, trial: Trial) -> None:
        self._bar.advance(self._task)
        if not err.is_terminal:  # a log (CI, a pipe) gets one line per trial instead of a live bar
            task = self._bar.tasks[0]
            err.print(f"[{task.completed:.0f}/{task.total:.0f}] {trial.trial_id}: {trial.status} "
                      f"{_primary_text(trial)}", markup=False, highlight=False)
        if trial.status != "ok":
            self._bar.console.print(f"[yellow]{trial.status}[/]: {trial.case} @ {trial.environment}: "
                                    f"{escape(trial.error or '')}", markup=True, highlight=False)

    def replanned(self, planned_trials: int, reason: str) -> None:
        self._bar.update(self._task, total=planned_trials)
        self._bar.console.print(f"another round: {reason}")

    def note(self, text: str) -> None:
        (self._bar.console if self._task is not None else err).print(f"vbench: {escape(text)}", highlight=False)

    def close(self) -> None:
        if self._task is not None:  # stopping a bar never started prints a blank line on a non-terminal
            self._bar.stop()


def _primary_text(trial: Trial) -> str:
    metric = trial.primary_metric
    return f"{trial.primary}={metric.value:.4g} {metric.unit}" if metric else ""
