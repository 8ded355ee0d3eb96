"""Whole trials: each case runs once, alone, while the collectors watch (the executor for every workload that
cannot run as paired slices here)."""
from __future__ import annotations

from typing import Any, Sequence

from vbench.collectors.cgroup import CgroupCollector
from vbench.collectors.process import HelperCollector, ProcessCollector
from vbench.envs.base import Environment
from vbench.model import Case, Handle
from vbench.run.options import Bench, now
from vbench.run.record import Measurement



def execute(cases: Sequence[Case], round_index: int, bench: Bench) -> list[Measurement]:
    """Each of ``cases`` as one whole trial, one after the other, in their order."""
    return [measure(bench.active[case.env.label], case, round_index, bench) for case in cases]


def measure(env: Environment, case: Case, round_index: int, bench: Bench) -> Measurement:
    """Execute one trial in ``env`` with the collectors running."""
    interval = bench.options.collect_interval
    collectors = [ProcessCollector(interval, case.workload), CgroupCollector(interval), HelperCollector(interval)]
    started_at = now()
    engine_before = env.counters()
    for collector in collectors:
        collector.start()

    def attach(handle: Handle) -> None:
        for collector in collectors:
            collector.attach(handle)

    try:
        execution = env.execute(case.invocation(), bench.timeout, on_start=attach)
    finally:
        summaries = {c.name: c.stop() for c in collectors}
    engine = engine_delta(engine_before, env.counters())
    if engine:
        summaries["engine"] = engine
    return Measurement.of_execution(case, round_index, started_at, execution,
                                    {k: v for k, v in summaries.items() if v is not None},
                                    series={c.name: c.series for c in collectors if c.series},
                                    host_path=env.host_path(), tags=env.trial_tags())


def engine_delta(before: dict[str, Any] | None, after: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the environment's own API counted over the trial (the Engine API's stats for containers)."""
    if not before or not after:
        return None
    return {k: after[k] - before[k] for k in after if k in before}
