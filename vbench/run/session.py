"""The plan being carried out: warmup rounds, then measured rounds until the stopping rule says enough.

Each round runs the blocks' work in the seed's order (vbench.run.blocks), each unit by its block's executor
(whole trials or paired slices), and stores every measurement as a trial as it finishes (fsynced before the next
starts). Trials already in the store (a resumed run) are not run again, so a resumed run continues exactly where
the interrupted one stopped.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from vbench import stats, validity
from vbench.model import BASELINE, Case, RunMeta, Trial
from vbench.plan import next_round, round_order, trial_id
from vbench.run import sliced, whole, writeback
from vbench.run.blocks import plan_blocks, slicing, units
from vbench.run.options import Bench, Progress
from vbench.run.record import Measurement, to_trial
from vbench.store import RunStore
from vbench.suite import PlanSettings

Executor = Callable[[Sequence[Case], int, Bench], list[Measurement]]


@dataclass
class Tally:
    """Primary-metric values of measured ok trials, per (entry, environment) and round, for the adaptive decision
    (made with the same paired estimator as the overhead table)."""

    values: dict[tuple[str, str], dict[int, float]] = field(default_factory=dict)
    higher_is_better: dict[str, bool] = field(default_factory=dict)
    operations: dict[tuple[str, str], set[str]] = field(default_factory=dict)

    def add(self, trial: Trial) -> None:
        metric = trial.primary_metric
        if trial.warmup or trial.status != "ok" or metric is None:
            return
        self.values.setdefault((trial.case, trial.environment), {})[trial.round] = metric.value
        self.higher_is_better[trial.case] = metric.higher_is_better
        self.operations.setdefault((trial.case, trial.environment), set()).add(
            validity.operation(trial.info, trial.params))

    def half_widths(self, cases: Sequence[Case]) -> dict[str, float]:
        widths = {}
        for case in cases:
            if case.env.label == BASELINE:
                continue
            base = self.values.get((case.name, BASELINE), {})
            other = self.values.get((case.name, case.env.label), {})
            if validity.mismatch(self.operations.get((case.name, BASELINE), set()),
                                 self.operations.get((case.name, case.env.label), set())):
                continue  # not comparable: more rounds cannot make it so
            hib = self.higher_is_better.get(case.name, True)
            widths[case.case_id] = stats.paired_overhead(base, other, hib).half_width
        return widths


def after_writeback(m: Measurement, settled: writeback.Settled) -> Measurement:
    """``m`` with the host's writeback state before its block (``collectors.writeback``), flagged when the block
    started dirty."""
    flags = m.flags if settled.clean else (*m.flags, "started-dirty")
    return dataclasses.replace(m, collected={**m.collected, "writeback": settled.as_info()}, flags=flags)


class RunRecord:
    """The run's RunMeta as the run goes: the model is frozen, so each change replaces it; ``write`` stores it."""

    def __init__(self, store: RunStore, meta: RunMeta):
        self.store, self.meta = store, meta

    def update(self, **changes: Any) -> None:
        self.meta = dataclasses.replace(self.meta, **changes)

    def write(self) -> None:
        self.store.write_meta(self.meta)


class Session:
    """The rounds of one run: ``cases`` in the plan's order (the run's seed shuffles that order), measured in
    blocks decided when the session is made and written to run.json (``slicing``) before the first trial; the
    run's meta is kept in ``record``. A resumed run keeps the blocks its run.json recorded."""

    def __init__(self, cases: Sequence[Case], bench: Bench, plan: PlanSettings, record: RunRecord,
                 progress: Progress, finished: Sequence[Trial]):
        self.cases, self.bench, self.plan = list(cases), bench, plan
        self.seed = record.meta.seed if record.meta.seed is not None else 0
        self.store, self.record, self.progress = record.store, record, progress
        self.blocks = plan_blocks(self.cases, bench.active, bench.options, record.meta.slicing)
        record.update(slicing=slicing(self.blocks))
        record.write()
        self.done_ids = {t.trial_id for t in finished}
        self.seq = len(finished)
        self.tally = Tally()
        for trial in finished:
            self.tally.add(trial)

    @property
    def meta(self) -> RunMeta:
        return self.record.meta

    def run(self) -> None:
        per_round, plan = len(self.cases), self.plan
        self.progress.started(self.store.dir, per_round * (plan.warmup_rounds + plan.min_rounds))
        self.progress.skipped(len(self.done_ids))
        t0, round_seconds = time.monotonic(), []
        decisions = list((self.meta.rounds or {}).get("decisions", []))
        for warm in range(-plan.warmup_rounds, 0):
            self.run_round(warm)
        done = 0
        while True:
            start = time.monotonic()
            ran = self.run_round(done + 1)
            done += 1
            if ran:
                round_seconds.append(time.monotonic() - start)
            decision = next_round(plan, done, time.monotonic() - t0, round_seconds,
                                  self.tally.half_widths(self.cases))
            decisions.append({"after_round": done, "more": decision.more, "reason": decision.reason})
            self.record.update(rounds={**(self.meta.rounds or {}), "done": done, "decisions": list(decisions)})
            self.record.write()
            if not decision.more:
                self.record.update(rounds={**(self.meta.rounds or {}), "stop_reason": decision.reason})
                return
            if done >= plan.min_rounds:
                self.progress.replanned(per_round * (plan.warmup_rounds + done + 1), decision.reason)

    def run_round(self, round_index: int) -> int:
        """Run the round's trials that are not done yet; how many ran."""
        order = round_order(self.cases, self.seed, round_index)
        pending = {c.case_id for c in order if trial_id(round_index, c) not in self.done_ids}
        ran = 0
        for block, cases in units(self.blocks, order, pending):
            executor: Executor = sliced.execute if block.sliced else whole.execute
            if block.sliced:
                where = " + ".join(c.env.label for c in cases) + " (paired slices)"
                self.progress.trial_started(cases[0], round_index, where=where)
            else:
                self.progress.trial_started(cases[0], round_index)
            settled = writeback.settle() if cases[0].workload.startswith("io.") else None
            for measurement in executor(cases, round_index, self.bench):
                if settled is not None:
                    measurement = after_writeback(measurement, settled)
                if measurement.trial_id in self.done_ids:
                    continue  # a resumed block: the baseline ran again for calibration, its stored trial stands
                self.keep(measurement)
                ran += 1
        return ran

    def keep(self, measurement: Measurement) -> None:
        """Store a finished trial (fsynced before the next starts), count it for the stopping rule, show it. A
        session that measures beside another run (--allow-concurrent) flags every trial it keeps."""
        if self.meta.concurrent_with is not None:
            measurement = dataclasses.replace(measurement, flags=(*measurement.flags, validity.CONCURRENT_RUN))
        samples = self.store.write_samples(measurement.trial_id, dict(measurement.series))
        trial = to_trial(measurement, self.seq, self.store.dir.name, samples)
        self.store.append_trial(trial)
        self.tally.add(trial)
        self.progress.trial_finished(trial)
        self.seq += 1
