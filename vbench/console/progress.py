"""The progress of a run on stderr: trials done of planned, elapsed, ETA, the trial in flight."""
from __future__ import annotations

import os
import signal
import stat
import sys
import threading
from pathlib import Path

from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

from vbench import fmt
from vbench.console import err
from vbench.model import Trial
from vbench.run.events import Event


class RichProgress:
    """Progress of a run on stderr: trials done of planned, elapsed, ETA, the trial in flight."""

    def __init__(self):
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), console=err,
                             transient=False)
        self._task = None
        self._log = err.file

    def started(self, run_dir: Path, planned_trials: int) -> None:
        err.print(f"run directory: {run_dir}")
        self._bar.start()
        self._task = self._bar.add_task("starting", total=planned_trials)

    def skipped(self, count: int) -> None:
        if count:
            self._bar.advance(self._task, count)
            err.print(f"resuming: {fmt.plural(count, 'finished trial')} kept")

    def trial_started(self, case, round_index: int, where: str | None = None) -> None:
        kind = "warmup" if round_index < 0 else f"round {round_index}"
        self._bar.update(self._task, description=f"{kind} {case.name} @ {where or case.env.label}")

    def trial_finished(self, trial: Trial) -> None:
        self._bar.advance(self._task)
        if not err.is_terminal:  # a log (CI, a pipe) gets one line per trial instead of a live bar
            task = self._bar.tasks[0]
            # Written as it is, to the stream the bar started with (the bar puts a proxy in sys.stderr that
            # renders through rich): rich would wrap the line and cache the width of each of its words, a cache
            # that grows with every new figure for the first thousands of trials (benchmarks/long_run.py).
            self._log.write(f"[{task.completed:.0f}/{task.total:.0f}] {trial.trial_id}: {trial.status} "
                            f"{_primary_text(trial)}\n")
            self._log.flush()
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
    return f"{trial.primary}={fmt.quantity(metric.value, metric.unit)}" if metric else ""


class StreamProgress:
    """A run's progress as JSON lines on stdout, one event each, for the vbench that started this one on another
    host (``vbench run --stream``, see vbench.fleet): started, skipped, each finished trial's record, replanned,
    note. The run stops, keeping what it finished, when its stdin closes: the connection to that vbench is
    gone, and nobody would read what it measures next."""

    def __init__(self, out=None):
        self._out = out or sys.stdout
        self._lock = threading.Lock()

    def watch_stdin(self) -> None:
        """Interrupt this process (as SIGTERM does) when stdin, a pipe or socket, reaches its end."""
        fd = sys.stdin.fileno()
        if not (stat.S_ISFIFO(os.fstat(fd).st_mode) or stat.S_ISSOCK(os.fstat(fd).st_mode)):
            return

        def wait() -> None:
            while os.read(fd, 4096):  # the raw descriptor: a daemon thread must hold no lock at exit
                pass
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=wait, name="vbench-stdin-watch", daemon=True).start()

    def emit(self, event: Event) -> None:
        with self._lock:
            self._out.write(event.to_json() + "\n")
            self._out.flush()

    def started(self, run_dir: Path, planned_trials: int) -> None:
        self.emit(Event("started", run_dir=str(run_dir), planned=planned_trials))

    def skipped(self, count: int) -> None:
        self.emit(Event("skipped", count=count))

    def trial_started(self, case, round_index: int, where: str | None = None) -> None:
        kind = "warmup" if round_index < 0 else f"round {round_index}"
        self.emit(Event("trial_started", what=f"{kind} {case.name} @ {where or case.env.label}"))

    def trial_finished(self, trial: Trial) -> None:
        from vbench.store import to_record

        self.emit(Event("trial", record=to_record(trial)))

    def replanned(self, planned_trials: int, reason: str) -> None:
        self.emit(Event("replanned", planned=planned_trials, reason=reason))

    def note(self, text: str) -> None:
        self.emit(Event("note", text=text))

    def close(self) -> None:
        pass
