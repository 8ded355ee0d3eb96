"""Pure-function tests of vbench.stats on fixed data."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest

from vbench.stats import (
    NO_DIFFERENCE,
    TOO_FEW,
    TABLE_COLUMNS,
    Overhead,
    ci_narrow_enough,
    mann_whitney,
    median,
    overhead,
    overhead_pct,
    overhead_table,
)


def lognormal(seed: int, n: int = 30, center: float = 100.0, sigma: float = 0.05) -> np.ndarray:
    return np.random.default_rng(seed).lognormal(math.log(center), sigma, n)


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


# median and mann_whitney


def test_median_drops_nan_and_is_nan_when_empty():
    assert median([3.0, 1.0, math.nan, 2.0]) == 2.0
    assert math.isnan(median([]))
    assert math.isnan(median([math.nan]))


def test_mann_whitney_clear_difference_is_small():
    assert mann_whitney(lognormal(1), lognormal(2) * 0.8) < 1e-6


@pytest.mark.parametrize("a, b", [([1.0], [1.0, 2.0]), ([], [1.0, 2.0]), ([5.0, 5.0], [5.0, 5.0, 5.0])])
def test_mann_whitney_not_computable_is_nan(a, b):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(mann_whitney(a, b))


# overhead


def test_env_clearly_slower_in_throughput():
    native = lognormal(1)
    env = lognormal(2) * 0.8
    o = overhead(native, env, higher_is_better=True)
    assert o.point == pytest.approx(25.0, abs=3.0)
    assert 0 < o.low <= o.point <= o.high
    assert o.detectable
    assert o.label.startswith("+") and "slower" in o.label
    assert o.n_native == o.n_env == 30
    assert o.p_value < 0.001


def test_env_clearly_faster_in_latency():
    o = overhead(lognormal(3), lognormal(4) * 0.8, higher_is_better=False)
    assert o.point == pytest.approx(-20.0, abs=3.0)
    assert o.high < 0
    assert o.label.startswith("-") and "faster" in o.label


def test_same_distribution_is_no_detectable_difference():
    o = overhead(lognormal(5), lognormal(6), higher_is_better=True)
    assert o.low <= 0 <= o.high
    assert not o.detectable
    assert o.label == NO_DIFFERENCE
    assert o.p_value > 0.05


def test_overhead_is_deterministic_for_a_seed():
    native, env = lognormal(7), lognormal(8) * 0.9
    first = overhead(native, env, higher_is_better=True, seed=42)
    assert overhead(native, env, higher_is_better=True, seed=42) == first
    other = overhead(native, env, higher_is_better=True, seed=43)
    assert (other.low, other.high) != (first.low, first.high)
    assert other.point == first.point


def test_wider_confidence_gives_wider_interval():
    native, env = lognormal(9), lognormal(10) * 0.9
    narrow = overhead(native, env, higher_is_better=True, confidence=0.8)
    wide = overhead(native, env, higher_is_better=True, confidence=0.99)
    assert wide.half_width > narrow.half_width
    assert wide.confidence == 0.99


@pytest.mark.parametrize("native, env", [([100.0], [90.0, 91.0]), ([100.0, 101.0], [90.0]), ([], [])])
def test_fewer_than_two_values_gives_nan_ci(native, env):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        o = overhead(native, env, higher_is_better=True)
    assert math.isnan(o.low) and math.isnan(o.high)
    assert not o.detectable
    assert o.label == TOO_FEW
    assert not ci_narrow_enough(o, 100.0)


def test_nans_are_dropped_before_counting():
    o = overhead([100.0, math.nan, 100.0], [80.0, 80.0, math.nan, math.nan], higher_is_better=True)
    assert (o.n_native, o.n_env) == (2, 2)
    assert o.point == pytest.approx(25.0)


def test_identical_values_collapse_ci_to_point():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = overhead([5.0] * 10, [5.0] * 10, higher_is_better=False)
        shifted = overhead([5.0] * 10, [6.0] * 10, higher_is_better=False)
    assert same.point == same.low == same.high == 0.0
    assert not same.detectable and math.isnan(same.p_value)
    assert shifted.point == shifted.low == shifted.high == pytest.approx(20.0)
    assert shifted.detectable and shifted.half_width == 0.0


def test_zero_values_give_nan_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        o = overhead([0.0, 0.0, 0.0], [1.0, 2.0, 3.0], higher_is_better=False)
        partly_zero = overhead([0.0, 0.0, 1.0, 1.0], [1.0, 2.0, 3.0, 4.0], higher_is_better=False)
    assert math.isnan(o.point) and not o.detectable
    assert math.isfinite(partly_zero.point)


def test_invalid_confidence_is_rejected():
    with pytest.raises(ValueError, match="confidence"):
        overhead([1.0, 2.0], [1.0, 2.0], higher_is_better=True, confidence=95)


# Overhead and ci_narrow_enough


def test_overhead_properties():
    o = Overhead(point=12.34, low=10.0, high=14.0)
    assert o.half_width == 2.0
    assert o.detectable
    assert o.label == "+12.3% (slower)"
    assert Overhead(point=-4.0, low=-6.0, high=-2.0).label == "-4.0% (faster)"
    assert Overhead(point=0.5, low=0.1, high=0.9).label == "+0.50% (slower)"
    assert not Overhead(point=1.0, low=-0.5, high=2.5).detectable
    assert not Overhead(point=1.0, low=0.0, high=2.5).detectable


def test_ci_narrow_enough():
    assert ci_narrow_enough(Overhead(point=5.0, low=4.0, high=6.0), 1.0)
    assert not ci_narrow_enough(Overhead(point=5.0, low=3.9, high=6.0), 1.0)
    assert not ci_narrow_enough(Overhead(point=5.0, low=math.nan, high=math.nan), 1.0)


# overhead_table


def trials_frame() -> pd.DataFrame:
    rows = []

    def add(case, env, metric, values, unit="MB/s", hib=True, warmup=False, status="ok"):
        for v in values:
            rows.append(dict(case=case, environment=env, metric=metric, value=v, unit=unit,
                             higher_is_better=hib, warmup=warmup, status=status))

    add("fio-seqread", "native", "bw", [100.0, 102.0, 98.0, 101.0, 99.0])
    add("fio-seqread", "native", "bw", [10.0], warmup=True)  # warmup: ignored
    add("fio-seqread", "native", "bw", [1.0], status="timeout")  # failed: ignored
    add("fio-seqread", "docker:volume", "bw", [80.0, 81.0, 79.0, 80.5])
    add("fio-seqread", "docker:volume", "bw", [500.0, 500.0], status="error")
    add("fio-seqread", "vm", "bw", [99.0, 103.0, 100.0, 98.5, 101.5])
    add("fio-seqread", "docker:layer", "bw", [70.0], status="error")  # no ok rows: no table row
    add("cpu-loop", "native", "seconds", [2.0, 2.02, 1.98], unit="s", hib=False)
    add("cpu-loop", "docker:volume", "seconds", [2.0, 2.01, 1.99], unit="s", hib=False)
    add("cpu-loop", "vm", "seconds", [30.0], unit="s", hib=False)
    return pd.DataFrame(rows)


def test_overhead_table_rows_and_order():
    table = overhead_table(trials_frame())
    assert list(table.columns) == TABLE_COLUMNS
    keys = list(zip(table["case"], table["metric"], table["environment"]))
    assert keys == [
        ("cpu-loop", "seconds", "docker:volume"),
        ("cpu-loop", "seconds", "vm"),
        ("fio-seqread", "bw", "docker:volume"),
        ("fio-seqread", "bw", "vm"),
    ]


def test_overhead_table_excludes_warmups_and_failures():
    table = overhead_table(trials_frame()).set_index(["case", "environment"])
    volume = table.loc[("fio-seqread", "docker:volume")]
    assert (volume["n_baseline"], volume["n_env"]) == (5, 4)
    assert volume["baseline_median"] == 100.0
    assert volume["env_median"] == 80.25
    assert volume["overhead_pct"] == pytest.approx((100.0 / 80.25 - 1) * 100)
    assert volume["ci_low"] > 0
    assert volume["verdict"].endswith("(slower)")
    assert volume["unit"] == "MB/s" and bool(volume["higher_is_better"])


def test_overhead_table_verdicts():
    table = overhead_table(trials_frame()).set_index(["case", "environment"])
    assert table.loc[("fio-seqread", "vm"), "verdict"] == NO_DIFFERENCE
    single = table.loc[("cpu-loop", "vm")]
    assert single["n_env"] == 1
    assert single["overhead_pct"] == pytest.approx(1400.0)
    assert math.isnan(single["ci_low"]) and single["verdict"] == TOO_FEW
    assert table.loc[("cpu-loop", "docker:volume"), "unit"] == "s"


def test_overhead_table_other_baseline_and_empty():
    table = overhead_table(trials_frame(), baseline="vm")
    assert set(table["environment"]) == {"native", "docker:volume"}
    empty = overhead_table(trials_frame().iloc[0:0])
    assert empty.empty and list(empty.columns) == TABLE_COLUMNS


def test_overhead_table_is_deterministic():
    pd.testing.assert_frame_equal(overhead_table(trials_frame()), overhead_table(trials_frame()))


@pytest.mark.parametrize("n", [2, 3, 5, 8, 31])
def test_exact_bootstrap_medians_match_brute_force_resampling(n):
    from vbench.stats import bootstrap_medians

    values = np.random.default_rng(n).lognormal(size=n)
    exact = bootstrap_medians(values, 200_000, np.random.default_rng(1))
    idx = np.random.default_rng(2).integers(0, n, size=(200_000, n))
    brute = np.median(values[idx], axis=1)
    grid = np.unique(np.concatenate([exact, brute]))[:: max(1, len(np.unique(brute)) // 200)]
    cdf = lambda sample: np.searchsorted(np.sort(sample), grid, side="right") / sample.size  # noqa: E731
    assert np.max(np.abs(cdf(exact) - cdf(brute))) < 0.01  # the same distribution (Kolmogorov distance)
