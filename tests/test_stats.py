"""Pure-function tests of vbench.stats and vbench.rankstats on fixed data."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from vbench import rankstats
from vbench.plan import narrow_enough
from vbench.stats import (
    MIN_PAIRS,
    NO_DIFFERENCE,
    TABLE_COLUMNS,
    ZERO_VARIANCE,
    Overhead,
    aa_floor,
    exceeds_p,
    median,
    overhead,
    overhead_pct,
    overhead_table,
    paired_overhead,
)


def rounds(seed: int, n: int = 12, ratio: float = 1.0, noise: float = 0.03, drift: float = 0.2):
    """(native, env) by round: a shared per-round drift, each trial its own noise; env = native * ratio."""
    rng = np.random.default_rng(seed)
    level = rng.lognormal(0, drift, n) * 100
    native = level * rng.lognormal(0, noise, n)
    env = level * ratio * rng.lognormal(0, noise, n)
    return dict(enumerate(native, 1)), dict(enumerate(env, 1))


# overhead_pct


def test_throughput_lower_in_env_is_positive_overhead():
    assert overhead_pct(100.0, 80.0, higher_is_better=True) == pytest.approx(25.0)


def test_throughput_higher_in_env_is_negative_overhead():
    assert overhead_pct(100.0, 125.0, higher_is_better=True) == pytest.approx(-20.0)


def test_latency_higher_in_env_is_positive_overhead():
    assert overhead_pct(10.0, 12.0, higher_is_better=False) == pytest.approx(20.0)


def test_latency_lower_in_env_is_negative_overhead():
    assert overhead_pct(10.0, 9.0, higher_is_better=False) == pytest.approx(-10.0)


@pytest.mark.parametrize("native, env", [(0.0, 1.0), (1.0, 0.0), (math.nan, 1.0), (1.0, math.inf)])
@pytest.mark.parametrize("higher_is_better", [True, False])
def test_overhead_pct_degenerate_inputs_are_nan(native, env, higher_is_better):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(overhead_pct(native, env, higher_is_better))


def test_median_drops_nan_and_is_nan_when_empty():
    assert median([3.0, 1.0, math.nan, 2.0]) == 2.0
    assert math.isnan(median([]))


# paired_overhead


def test_env_clearly_slower_in_throughput_despite_drift():
    native, env = rounds(1, ratio=0.8)
    o = paired_overhead(native, env, higher_is_better=True)
    assert o.method == "paired" and o.n_pairs == 12
    assert o.point == pytest.approx(25.0, abs=3.0) and 0 < o.low <= o.point <= o.high
    assert o.detectable and o.label.startswith("+") and "slower" in o.label
    assert o.p_value < 0.001


def test_env_clearly_faster_in_latency():
    native, env = rounds(3, ratio=0.8)
    o = paired_overhead(native, env, higher_is_better=False)
    assert o.point == pytest.approx(-20.0, abs=3.0) and o.high < 0
    assert o.label.startswith("-") and "faster" in o.label


def test_same_distribution_is_no_detectable_difference():
    native, env = rounds(5)
    o = paired_overhead(native, env, higher_is_better=True)
    assert o.low <= 0 <= o.high and not o.detectable and o.label == NO_DIFFERENCE and o.p_value > 0.05


def test_pairing_removes_the_drift_that_an_unpaired_interval_keeps():
    native, env = rounds(7, n=12, ratio=1.1, noise=0.03, drift=0.2)
    paired = paired_overhead(native, env, higher_is_better=False)
    unpaired = overhead(list(native.values()), list(env.values()), higher_is_better=False)
    assert paired.half_width < 0.3 * unpaired.half_width and paired.detectable and not unpaired.detectable


def test_wider_confidence_gives_wider_interval():
    native, env = rounds(9, ratio=0.9)
    narrow = paired_overhead(native, env, True, confidence=0.8)
    wide = paired_overhead(native, env, True, confidence=0.99)
    assert wide.half_width > narrow.half_width and wide.confidence == 0.99


@pytest.mark.parametrize("n", range(0, MIN_PAIRS))
def test_fewer_than_six_pairs_give_no_ci_but_say_why(n):
    native, env = rounds(11, n=n, ratio=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        o = paired_overhead(native, env, higher_is_better=True)
    assert math.isnan(o.low) and math.isnan(o.high) and not o.detectable
    assert o.label == f"too few rounds ({n})" and not narrow_enough(o.half_width, 1e9)


def test_six_pairs_are_enough_and_cover_the_whole_range_of_walsh_averages():
    native, env = rounds(13, n=6, ratio=0.5)
    o = paired_overhead(native, env, higher_is_better=True)
    assert math.isfinite(o.low) and o.reason is None and o.low > 0


def test_rounds_without_a_partner_fall_back_to_unpaired_and_say_so():
    native, env = rounds(15, n=12, ratio=0.8)
    env = {r + 100: v for r, v in env.items()}  # no round in common
    o = paired_overhead(native, env, higher_is_better=True)
    assert o.method.startswith("unpaired") and "24 rounds without a partner" in o.method
    assert o.n_pairs == 0 and o.n_native == o.n_env == 12 and math.isfinite(o.low)


def test_identical_values_are_insufficient_not_certain():
    same = paired_overhead({r: 5.0 for r in range(8)}, {r: 5.0 for r in range(8)}, higher_is_better=False)
    shifted = paired_overhead({r: 5.0 for r in range(8)}, {r: 6.0 for r in range(8)}, higher_is_better=False)
    for o in (same, shifted):
        assert o.label == ZERO_VARIANCE and not o.detectable and math.isnan(o.low)
    assert shifted.point == pytest.approx(20.0)


def test_nans_and_zeros_are_dropped_before_pairing():
    native, env = rounds(17, n=8, ratio=0.8)
    native[3], env[5] = math.nan, 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        o = paired_overhead(native, env, higher_is_better=True)
    assert o.n_pairs == 6 and math.isfinite(o.low)


def test_an_outlier_trial_moves_the_estimate_little():
    native, env = rounds(19, n=12, ratio=0.8, drift=0.0)
    clean = paired_overhead(native, env, higher_is_better=True)
    env[4] = env[4] / 1000  # one trial at a thousandth of the speed, as real fsync trials here have done
    hit = paired_overhead(native, env, higher_is_better=True)
    assert abs(hit.point - clean.point) < 3.0 and hit.low > 0


def test_invalid_confidence_is_rejected():
    with pytest.raises(ValueError, match="confidence"):
        paired_overhead({1: 1.0}, {1: 1.0}, higher_is_better=True, confidence=95)


def test_exceeds_p_tests_a_limit_one_sided():
    native, env = rounds(21, ratio=1.2, noise=0.02)
    assert exceeds_p(native, env, False, 10.0, "greater") < 0.01  # +20% is above +10%
    assert exceeds_p(native, env, False, 30.0, "less") < 0.01  # and below +30%
    assert exceeds_p(native, env, False, 30.0, "greater") > 0.5


# Overhead


def test_overhead_properties():
    o = Overhead(point=12.34, low=10.0, high=14.0)
    assert o.half_width == 2.0 and o.detectable and o.label == "+12.3% (slower)"
    assert Overhead(point=-4.0, low=-6.0, high=-2.0).label == "-4.0% (faster)"
    assert Overhead(point=0.5, low=0.1, high=0.9).label == "+0.50% (slower)"
    assert not Overhead(point=1.0, low=-0.5, high=2.5).detectable
    assert not Overhead(point=1.0, low=0.5, high=2.5, reason="too few rounds (3)").detectable


def test_narrow_enough():
    assert narrow_enough(Overhead(point=5.0, low=4.0, high=6.0).half_width, 1.0)
    assert not narrow_enough(Overhead(point=5.0, low=3.9, high=6.0).half_width, 1.0)
    assert not narrow_enough(Overhead(point=5.0, low=math.nan, high=math.nan).half_width, 1.0)


# overhead_table


def trials_frame() -> pd.DataFrame:
    rows = []

    def add(case, env, metric, values, unit="MB/s", hib=True, warmup=False, status="ok", first_round=1):
        for i, v in enumerate(values):
            rows.append(dict(case=case, environment=env, metric=metric, value=v, unit=unit, higher_is_better=hib,
                             warmup=warmup, status=status, round=-1 if warmup else first_round + i))

    add("fio-seqread", "native", "bw", [100.0, 102.0, 98.0, 101.0, 99.0, 100.5, 99.5])
    add("fio-seqread", "native", "bw", [10.0], warmup=True)  # warmup: ignored
    add("fio-seqread", "native", "bw", [1.0], status="timeout", first_round=8)  # failed: ignored
    add("fio-seqread", "docker:volume", "bw", [80.0, 81.0, 79.0, 80.5, 79.5, 80.2, 80.8])
    add("fio-seqread", "vm", "bw", [99.0, 103.0, 100.0, 98.5, 101.5, 99.0, 101.0])
    add("fio-seqread", "native:aa", "bw", [101.0, 101.0, 99.0, 100.0, 100.0, 101.5, 98.5])
    add("fio-seqread", "docker:layer", "bw", [70.0], status="error")  # no ok rows: no table row
    add("cpu-loop", "native", "seconds", [2.0, 2.02, 1.98], unit="s", hib=False)
    add("cpu-loop", "docker:volume", "seconds", [2.0, 2.01, 1.99], unit="s", hib=False)
    return pd.DataFrame(rows)


def test_overhead_table_rows_and_order():
    table = overhead_table(trials_frame())
    assert list(table.columns) == TABLE_COLUMNS
    keys = list(zip(table["case"], table["metric"], table["environment"]))
    assert keys == [("cpu-loop", "seconds", "docker:volume"), ("fio-seqread", "bw", "docker:volume"),
                    ("fio-seqread", "bw", "native:aa"), ("fio-seqread", "bw", "vm")]


def test_overhead_table_pairs_by_round_and_excludes_warmups_and_failures():
    table = overhead_table(trials_frame()).set_index(["case", "environment"])
    volume = table.loc[("fio-seqread", "docker:volume")]
    assert (volume["n_baseline"], volume["n_env"], volume["n_pairs"]) == (7, 7, 7)
    assert volume["method"] == "paired" and volume["baseline_median"] == 100.0
    assert volume["overhead_pct"] == pytest.approx(25.0, abs=1.0) and volume["ci_low"] > 0
    assert volume["verdict"].endswith("(slower)") and volume["unit"] == "MB/s"


def test_overhead_table_verdicts_and_the_aa_floor():
    table = overhead_table(trials_frame()).set_index(["case", "environment"])
    vm, control = table.loc[("fio-seqread", "vm")], table.loc[("fio-seqread", "native:aa")]
    assert vm["verdict"] == NO_DIFFERENCE
    log_bound = max(abs(math.log1p(control["ci_low"] / 100)), abs(math.log1p(control["ci_high"] / 100)))
    floor = math.expm1(log_bound) * 100  # on the log scale: a slowdown and its mirror speed-up alike
    assert vm["aa_floor_pct"] == table.loc[("fio-seqread", "docker:volume"), "aa_floor_pct"] == floor
    short = table.loc[("cpu-loop", "docker:volume")]
    assert short["verdict"] == "too few rounds (3)" and math.isnan(short["ci_low"])
    assert math.isnan(short["aa_floor_pct"])  # no A/A control measured for that case


def test_an_effect_inside_the_aa_floor_is_not_relabelled():
    """The A/A rows are a diagnostic: a detected effect smaller than a noisy control's floor keeps its verdict
    (the second test that relabelled it had unknown error rates)."""
    frame = trials_frame()
    fio = frame["case"] == "fio-seqread"
    aa, vol = fio & (frame["environment"] == "native:aa"), fio & (frame["environment"] == "docker:volume")
    frame.loc[aa, "value"] = frame.loc[aa, "value"] * [1.3, 0.7, 1.3, 0.7, 1.3, 0.7, 1.3]  # a noisy control
    native = fio & (frame["environment"] == "native") & (frame["status"] == "ok") & ~frame["warmup"]
    frame.loc[vol, "value"] = frame.loc[native, "value"].to_numpy() * [0.9, 0.91, 0.9, 0.89, 0.9, 0.9, 0.91]
    row = overhead_table(frame).set_index(["case", "environment"]).loc[("fio-seqread", "docker:volume")]
    assert row["aa_floor_pct"] > row["overhead_pct"] > 0
    assert row["verdict"].endswith("(slower)") and "floor" not in row["verdict"]


def test_the_aa_floor_is_the_same_for_a_slowdown_and_its_mirror():
    row = {"ci_low": -20.0, "ci_high": 10.0}
    mirror = {"ci_low": -100 / 11, "ci_high": 25.0}  # 1/1.1 - 1 and 1/0.8 - 1
    assert aa_floor(row) == pytest.approx(aa_floor(mirror)) == pytest.approx(25.0)


def test_overhead_table_other_baseline_and_empty():
    table = overhead_table(trials_frame(), baseline="vm")
    assert set(table["environment"]) == {"native", "native:aa", "docker:volume"}
    empty = overhead_table(trials_frame().iloc[0:0])
    assert empty.empty and list(empty.columns) == TABLE_COLUMNS


# rankstats


@pytest.mark.parametrize("n", [1, 4, 7])
def test_signed_rank_distribution_is_exact(n):
    sums = [sum(r for r, s in zip(range(1, n + 1), signs) if s) for signs in itertools.product([0, 1], repeat=n)]
    brute = np.cumsum(np.bincount(sums)) / 2 ** n
    assert np.allclose(rankstats.signed_rank_cdf(n), brute)


@pytest.mark.parametrize("m, n", [(1, 1), (3, 4), (5, 2)])
def test_rank_sum_distribution_is_exact(m, n):
    counts = np.zeros(m * n + 1)
    for chosen in itertools.combinations(range(m + n), m):  # positions of x in the joint order
        counts[sum(sum(1 for j in range(p) if j not in chosen) for p in chosen)] += 1
    assert np.allclose(rankstats.rank_sum_cdf(m, n), np.cumsum(counts) / counts.sum())


def test_signed_rank_interval_uses_the_tabled_critical_value():
    d = np.arange(1.0, 11.0)  # n = 10: the 95% interval is [W_(9), W_(47)] of the 55 Walsh averages
    walsh = rankstats.walsh_averages(d)
    shift = rankstats.paired_shift(d)
    assert (shift.low, shift.high) == (walsh[8], walsh[46]) and shift.point == 5.5


def test_signed_rank_p_matches_scipy_exactly():
    from scipy import stats as sps

    d = np.random.default_rng(3).normal(0.3, 1, 9)
    for alternative in ("two-sided", "greater", "less"):
        assert rankstats.signed_rank_p(d, alternative) == pytest.approx(
            sps.wilcoxon(d, alternative=alternative, method="exact").pvalue)


@pytest.mark.parametrize("n, decimals", [(61, None), (150, None), (20, 1), (90, 1)])
def test_signed_rank_p_beyond_the_tables_and_with_ties_matches_scipys_normal_approximation(n, decimals):
    from scipy import stats as sps

    rng = np.random.default_rng(n)
    for _ in range(20):
        d = rng.normal(rng.normal(0, 0.4), 1, n)
        d = d if decimals is None else np.round(d, decimals)
        d = d[d != 0]
        for alternative in ("two-sided", "greater", "less"):
            assert rankstats.signed_rank_p(d, alternative) == pytest.approx(
                sps.wilcoxon(d, alternative=alternative, method="approx").pvalue, abs=1e-12)


def test_a_long_runs_interval_needs_no_scipy():
    """Past 60 rounds the p-value is the normal approximation: computed here, not by importing scipy (59 MiB
    and a thread in the middle of a run, measured by benchmarks/long_run.py)."""
    code = ("import sys, numpy as np; from vbench import rankstats, stats; "
            "d = np.random.default_rng(0).normal(0.01, 0.02, 120); rankstats.paired_shift(d); "
            "rankstats.signed_rank_p(np.round(d, 2)); "
            "stats.paired_overhead(dict(enumerate(np.exp(d))), dict(enumerate(np.ones(120))), True); "
            "print('scipy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_holm_steps_down():
    assert rankstats.holm([0.01, 0.04, 0.03, 0.2]) == [True, False, False, False]
    assert rankstats.holm([0.001, 0.011, 0.02]) == [True, True, True]
    assert rankstats.holm([math.nan, 0.001]) == [False, True]
