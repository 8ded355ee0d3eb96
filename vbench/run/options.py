"""A run's options, what its executors are handed, and the progress protocol: cheap to import (no numpy)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Protocol

from vbench.model import Case, EnvOptions, Trial

if TYPE_CHECKING:
    from vbench.envs.base import Environment


@dataclass(frozen=True)
class RunOptions:
    results_dir: Path = Path("results")
    scratch_root: str = "/var/tmp/vbench"
    seed: int | None = None
    collect_interval: float = 0.1
    env_options: EnvOptions = field(default_factory=EnvOptions)  # the containers' and VMs' options
    run_id: str | None = None  # the run's id (its directory's name); by default a new one from the suite and time
    aa_control: bool = True  # measure native:aa, the A/A control, beside the baseline
    slices: bool = True  # sliceable workloads run as paired slices (vbench.run.sliced) where every environment can
    pin: bool = True  # a sliced block pins every worker to one CPU (rotated by round) and vbench to the others
    allow_concurrent: bool = False  # measure even when another run holds the host (vbench.hostlock), flagged


@dataclass(frozen=True)
class Bench:
    """What an executor works with: the provisioned environments by label, a trial's timeout, the run's options."""

    active: Mapping[str, "Environment"]
    timeout: float
    options: RunOptions


class Progress(Protocol):
    def started(self, run_dir: Path, planned_trials: int) -> None: ...
    def skipped(self, count: int) -> None: ...
    def trial_started(self, case: Case, round_index: int, where: str | None = None) -> None: ...
    def trial_finished(self, trial: Trial) -> None: ...
    def replanned(self, planned_trials: int, reason: str) -> None: ...
    def note(self, text: str) -> None: ...


class Silent:
    """A Progress that says nothing (tests, the Python API)."""

    def started(self, run_dir: Path, planned_trials: int) -> None:
        pass

    def skipped(self, count: int) -> None:
        pass

    def trial_started(self, case: Case, round_index: int, where: str | None = None) -> None:
        pass

    def trial_finished(self, trial: Trial) -> None:
        pass

    def replanned(self, planned_trials: int, reason: str) -> None:
        pass

    def note(self, text: str) -> None:
        pass


def now() -> str:
    """The time as run.json and trials.jsonl keep it: UTC, ISO 8601, milliseconds."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
