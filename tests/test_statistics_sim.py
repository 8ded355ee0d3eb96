"""The statistics checked by what they do, in seeded simulations (tests/simulate.py): coverage of the paired
interval, its width against the unpaired one under drift, the stop rule's coverage, and claims that are exactly
at their limit. Seeded, so every run gives the same numbers; the bounds leave room for simulation error."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from simulate import Host, covers, rounds
from vbench import stats
from vbench.claims import HOLDS, REFUTED, Claim, evaluate
from vbench.plan import next_round
from vbench.suite import PlanSettings

TRUE_PCT = 10.0
REPS = 400


def paired(native: np.ndarray, env: np.ndarray) -> stats.Overhead:
    return stats.from_log_ratios(stats.log_cost(native, env, higher_is_better=False))


@pytest.mark.parametrize("n", [6, 8, 12])
@pytest.mark.parametrize("host", [Host(drift=0.2, noise=0.05), Host(drift=0.2, noise=0.15),
                                  Host(drift=0.2, noise=0.05, outliers=0.05)], ids=["drift", "noisy", "outliers"])
def test_the_paired_interval_covers_at_least_93_percent(n, host):
    rng = np.random.default_rng(n)
    hits = sum(covers(o.low, o.high, TRUE_PCT) for o in (paired(*rounds(rng, n, TRUE_PCT, host)) for _ in range(REPS)))
    assert hits / REPS >= 0.93


def test_pairing_cuts_the_interval_to_under_a_third_under_drift():
    rng = np.random.default_rng(1)
    host = Host(drift=0.2, noise=0.05)
    ratios = []
    for _ in range(REPS):
        native, env = rounds(rng, 12, TRUE_PCT, host)
        ratios.append(paired(native, env).half_width / stats.overhead(native, env, False).half_width)
    assert np.median(ratios) <= 0.3


def adaptive(rng: np.random.Generator, host: Host, target: float, plan: PlanSettings) -> tuple[stats.Overhead, int]:
    """One run of the adaptive plan on one case: rounds until next_round says stop; the CI reported then."""
    native, env = rounds(rng, plan.max_rounds, TRUE_PCT, host)
    done = 0
    while True:
        done += 1
        o = paired(native[:done], env[:done])
        if not next_round(plan, done, 0.0, [1.0], {"case": o.half_width}).more:
            return o, done


@pytest.mark.parametrize("host", [Host(drift=0.2, noise=0.05), Host(noise=0.10),
                                  Host(drift=0.2, noise=0.05, outliers=0.05)], ids=["drift", "noise", "outliers"])
def test_cis_reported_after_an_early_stop_cover_at_least_94_percent(host):
    rng = np.random.default_rng(2)
    plan = PlanSettings(warmup_rounds=0, min_rounds=6, max_rounds=15, ci_target_pct=1.0, time_budget_s=1e7)
    at_6 = np.median([paired(*rounds(rng, 6, TRUE_PCT, host)).half_width for _ in range(200)])
    at_15 = np.median([paired(*rounds(rng, 15, TRUE_PCT, host)).half_width for _ in range(200)])
    target = (at_6 + at_15) / 2  # reachable in the middle of the plan, as a target should be
    runs = [adaptive(rng, host, target, PlanSettings(**{**plan.__dict__, "ci_target_pct": target}))
            for _ in range(REPS)]
    early = [covers(o.low, o.high, TRUE_PCT) for o, done in runs if done < plan.max_rounds]
    assert len(early) > REPS / 2 and np.mean(early) >= 0.94


def claim_frame(rng: np.random.Generator, cases: int, n: int, true_pct: float, host: Host) -> pd.DataFrame:
    rows = []
    for c in range(cases):
        native, env = rounds(rng, n, true_pct, host)
        for label, values in (("native", native), ("vm:virtio", env)):
            rows += [{"case": f"cpu{c}", "environment": label, "metric": "t", "value": v, "unit": "s",
                      "higher_is_better": False, "warmup": False, "status": "ok", "primary": True, "round": r,
                      "accelerator": "kvm" if label != "native" else None} for r, v in enumerate(values, 1)]
    return pd.DataFrame(rows)


AT_MOST = Claim("c", "costs at most 10%", "test", "at_most", ("cpu*",), env_kind="vm", limit_pct=TRUE_PCT)


@pytest.mark.parametrize("n", [6, 12])
def test_an_eleven_case_claim_exactly_at_its_limit_is_falsely_refuted_at_most_5_percent(n):
    rng = np.random.default_rng(3)
    host = Host(drift=0.2, noise=0.05)
    verdicts = [evaluate(claim_frame(rng, 11, n, TRUE_PCT, host), [AT_MOST])[0].verdict for _ in range(150)]
    assert sum(v == REFUTED for v in verdicts) / len(verdicts) <= 0.05


def test_a_claim_well_within_its_limit_holds_and_one_well_beyond_is_refuted():
    rng = np.random.default_rng(4)
    host = Host(drift=0.2, noise=0.02)
    assert evaluate(claim_frame(rng, 11, 8, 0.0, host), [AT_MOST])[0].verdict == HOLDS
    assert evaluate(claim_frame(rng, 11, 8, 30.0, host), [AT_MOST])[0].verdict == REFUTED


def test_an_interval_that_cannot_exist_is_never_narrow():
    assert not math.isfinite(paired(np.ones(5), np.ones(5) * 1.1).half_width)


def compare_groups(rng: np.random.Generator, k: int, n: int, run_sigma: float, trial_sigma: float):
    """A and B: ``k`` runs each of ``n`` trials of the same code (no real change), as compare sees them."""
    from simulate import runs

    def side():
        return [pd.DataFrame({"value": native, "unit": "s", "higher_is_better": False})
                for native, _ in runs(rng, k, n, 0.0, Host(noise=trial_sigma), run_sigma)]
    return side(), side()


@pytest.mark.parametrize("k", [2, 3, 5])
def test_compare_with_runs_as_the_unit_raises_at_most_5_percent_false_alarms(k):
    from vbench import compare

    rng = np.random.default_rng(5)
    changes = []
    for _ in range(REPS):
        a, b = compare_groups(rng, k, 8, run_sigma=0.02, trial_sigma=0.02)
        changes.append(compare._change(("c", "native", "t"), a, b, [{}] * k, [{}] * k))
    assert all(c.method == compare.RUNS for c in changes)
    assert np.mean([c.significant for c in changes]) <= 0.05
    fired = compare.regressions_above(compare.Comparison("A", "B", changes), 0.0)
    assert len(fired) / REPS <= 0.05
