"""The plan: interleaved seeded rounds and the adaptive stopping rule."""
from __future__ import annotations

import math

from vbench.model import EnvSpec
from vbench.plan import build_cases, next_round, planned_rounds, round_order, trial_id
from vbench.suite import PlanSettings, parse_suite

SUITE = parse_suite({"name": "s", "workload": [{"name": "a", "use": "cpu.pyloop"},
                                               {"name": "b", "use": "cpu.sieve"}]}, "s")
ENVS = [EnvSpec("native"), EnvSpec("docker", "volume"), EnvSpec("docker", "layer")]


def test_cases_cover_every_entry_in_every_environment():
    cases = build_cases(SUITE, ENVS)
    assert len(cases) == 6
    assert {c.case_id for c in cases} == {f"{n}@{e.label}" for n in "ab" for e in ENVS}


def test_round_order_is_a_seeded_permutation():
    cases = build_cases(SUITE, ENVS)
    one, again = round_order(cases, 42, 1), round_order(cases, 42, 1)
    assert one == again  # a resumed run replays the same order
    assert sorted(c.case_id for c in one) == sorted(c.case_id for c in cases)
    orders = {tuple(c.case_id for c in round_order(cases, 42, r)) for r in range(1, 11)}
    assert len(orders) > 1  # rounds are shuffled, not a fixed order
    assert round_order(cases, 43, 1) != one or round_order(cases, 43, 2) != round_order(cases, 42, 2)


def test_trial_ids_are_unique_and_mark_warmups():
    cases = build_cases(SUITE, ENVS)
    ids = {trial_id(r, c) for r in (-1, 1, 2) for c in cases}
    assert len(ids) == 3 * len(cases)
    assert trial_id(-1, cases[0]).startswith("w001-") and trial_id(12, cases[0]).startswith("r012-")


def test_planned_rounds():
    assert planned_rounds(PlanSettings(warmup_rounds=2, min_rounds=3, max_rounds=5)) == [-2, -1, 1, 2, 3]


SETTINGS = PlanSettings(min_rounds=3, max_rounds=6, ci_target_pct=2.0, time_budget_s=100.0)


def test_minimum_rounds_always_run():
    assert next_round(SETTINGS, 2, 1000.0, [500.0], {"a": 0.1}).more


def test_stops_at_the_cap_even_when_wide():
    decision = next_round(SETTINGS, 6, 1.0, [0.1], {"a": 50.0})
    assert not decision.more and "cap" in decision.reason


def test_stops_when_every_ci_is_narrow():
    decision = next_round(SETTINGS, 3, 1.0, [0.1], {"a": 1.0, "b": 1.9})
    assert not decision.more and "within" in decision.reason


def test_continues_while_a_ci_is_wide_or_unknown():
    assert next_round(SETTINGS, 3, 1.0, [0.1], {"a": 1.0, "b": 2.5}).more
    decision = next_round(SETTINGS, 3, 1.0, [0.1], {"a": math.nan})
    assert decision.more and "a" in decision.reason
    assert next_round(SETTINGS, 3, 1.0, [0.1], {"a": 1.0, "b": 2.5}).reason.startswith("1 CI wider than +-2 pp")
    assert next_round(SETTINGS, 3, 1.0, [0.1], {"a": 3.0, "b": 2.5}).reason.startswith("2 CIs wider than +-2 pp")


def test_time_budget_uses_the_typical_round():
    assert not next_round(SETTINGS, 3, 80.0, [30.0, 25.0, 28.0], {"a": 9.0}).more
    assert next_round(SETTINGS, 3, 60.0, [30.0, 25.0, 28.0], {"a": 9.0}).more


def test_native_only_stops_after_minimum():
    decision = next_round(SETTINGS, 3, 1.0, [0.1], {})
    assert not decision.more and "no comparison" in decision.reason


def test_a_round_is_blocked_by_workload_and_shuffled_within_and_across_blocks():
    cases = build_cases(SUITE, ENVS)
    orders = [round_order(cases, 42, r) for r in range(1, 21)]
    for order in orders:
        names = [c.name for c in order]
        assert names in (["a"] * 3 + ["b"] * 3, ["b"] * 3 + ["a"] * 3)  # each workload's trials back to back
    assert len({tuple(c.name for c in order) for order in orders}) == 2  # the blocks are shuffled
    assert len({tuple(c.env.label for c in order[:3]) for order in orders}) > 1  # and so is each block
