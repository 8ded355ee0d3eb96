"""The plan: cases x rounds, each round every case once in a shuffled order, and when to stop adding rounds.

Shuffling each round (randomized multiple interleaved trials, in blocks: one workload in every environment back to
back) spreads the drift of a noisy host over every environment alike. The order of round ``r`` is a pure function
of the seed and ``r``, so a resumed run replays the same order. Warmup rounds come first, are stored, and are not
analysed.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Iterable, Sequence

from vbench import fmt
from vbench.model import Case, EnvSpec
from vbench.suite import PlanSettings, Suite


def build_cases(suite: Suite, envs: Sequence[EnvSpec]) -> list[Case]:
    """Every suite entry in every environment, in a stable order."""
    return [Case(entry.name, entry.workload, entry.params, env) for entry in suite.entries for env in envs]


def round_order(cases: Sequence[Case], seed: int, round_index: int) -> list[Case]:
    """The cases of round ``round_index`` (warmups count from ``-warmup_rounds``) in their seeded order: blocked,
    each workload entry's trials in every environment back to back in a shuffled order, the blocks shuffled.

    A block keeps the trials that are compared with each other minutes closer in time than a shuffle of the
    whole round would: the host's state drifts over seconds to minutes, and a pair that shares it cancels it."""
    rng = random.Random(f"{seed}:{round_index}")
    blocks: dict[str, list[Case]] = {}
    for case in cases:
        blocks.setdefault(case.name, []).append(case)
    names = list(blocks)
    rng.shuffle(names)
    order = []
    for name in names:
        block = list(blocks[name])
        rng.shuffle(block)
        order += block
    return order


def trial_id(round_index: int, case: Case) -> str:
    kind = "w" if round_index < 0 else "r"
    return f"{kind}{abs(round_index):03d}-{case.name}@{case.env.label}".replace("/", "_")


def planned_rounds(settings: PlanSettings) -> list[int]:
    """Round indices of the minimum plan: warmups as -w..-1, measured rounds as 1..min_rounds."""
    return [*range(-settings.warmup_rounds, 0), *range(1, settings.min_rounds + 1)]


@dataclass(frozen=True)
class Decision:
    more: bool
    reason: str


def narrow_enough(half_width: float, target_pct: float) -> bool:
    """The stopping rule's test of one CI: its half-width is known and at most the target, in percentage points.

    At the target itself, not below it: simulated (tests/test_statistics_sim.py), the CIs reported after such an
    early stop still cover at least 94% (the paired interval's own coverage at 6-15 pairs is 95-97%), so a
    stricter margin would only cost rounds."""
    return math.isfinite(half_width) and half_width <= target_pct


def next_round(settings: PlanSettings, rounds_done: int, elapsed_s: float, round_seconds: Iterable[float],
               half_widths: dict[str, float]) -> Decision:
    """Whether to run another measured round after ``rounds_done``, and why (the reason is shown to users).

    ``half_widths`` maps each compared case to its overhead CI's half-width in percentage points (nan when it
    cannot be computed yet), from the table's estimator before the widening for A/A offsets, which more rounds do
    not narrow; ``round_seconds`` are the durations of the measured rounds so far.
    """
    if rounds_done < settings.min_rounds:
        return Decision(True, f"minimum {settings.min_rounds} rounds")
    if rounds_done >= settings.max_rounds:
        return Decision(False, f"round cap {settings.max_rounds} reached")
    durations = sorted(round_seconds)
    typical = durations[len(durations) // 2] if durations else 0.0
    if elapsed_s + typical > settings.time_budget_s:
        return Decision(False, f"time budget {settings.time_budget_s:g}s reached")
    wide = {case: hw for case, hw in half_widths.items() if not narrow_enough(hw, settings.ci_target_pct)}
    if not wide:
        why = "no comparison to make" if not half_widths else f"every CI within +-{settings.ci_target_pct:g} pp"
        return Decision(False, why)
    worst = max(wide, key=lambda c: wide[c] if wide[c] == wide[c] else float("inf"))
    return Decision(True, f"{fmt.plural(len(wide), 'CI')} wider than +-{settings.ci_target_pct:g} pp (widest: {worst})")
