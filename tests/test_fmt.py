"""vbench.fmt: every formatter on captured values. The expected strings of the percentages, intervals and p-values
are what the console's, compare's, the claims' and the report's own formatters returned before they became these;
those of ``quantity`` are the units the workloads report (workloads/*/*.py METRICS, the recorded run's ops/s, MiB/s
and us), so a change here changes what is shown."""
from __future__ import annotations

import math

import numpy as np
import pytest

from vbench import fmt

NAN = math.nan

SIG = [(None, "-"), (NAN, "-"), (np.float64(NAN), "-"), (np.float32(NAN), "-"), (0, "0"), (0.0, "0"), (-0.0, "-0"),
       (5, "5"), (np.int64(12345), "1.234e+04"), (0.000123456, "0.0001235"), (1.5e-9, "1.5e-09"), (0.9999, "0.9999"),
       (-12.345, "-12.35"), (999.96, "1000"), (6757.3, "6757"), (np.float64(1234.5678), "1235"),
       (123456789.123, "1.235e+08"), (-98765.4321, "-9.877e+04"), (np.float32(3.14159), "3.142"), (math.inf, "inf")]
SIG3 = [(None, "-"), (NAN, "-"), (0, "0"), (0.0123, "0.0123"), (0.9999, "1"), (0.99949, "0.999"), (999.94, "1e+03"),
        (np.float64(1234.5678), "1.23e+03"), (-98765.4321, "-9.88e+04")]
SIGNED_PCT = [(None, "-"), (NAN, "-"), (np.float64(NAN), "-"), (0, "+0.0%"), (-0.0, "-0.0%"),
              (np.float64(0.0), "+0.0%"), (0.0004, "+0.0%"), (0.05, "+0.1%"), (-0.35, "-0.3%"), (-0.004, "-0.0%"),
              (4.44, "+4.4%"), (-12.345, "-12.3%"), (999.96, "+1000.0%"), (np.float64(1234.5678), "+1234.6%"),
              (123456789.123, "+123456789.1%"), (-98765.4321, "-98765.4%"), (math.inf, "+inf%")]
# counts and rates of things: SI prefixes on the number, three significant digits, the unit as reported
COUNTS = [(143_100, "ops/s", "143k ops/s"), (1_431_000, "ops/s", "1.43M ops/s"), (75_012.3, "ops/s", "75.0k ops/s"),
          (10_581_774.03, "ops/s", "10.6M ops/s"), (18_000, "transactions/s", "18.0k transactions/s"),
          (143_000, "IOPS", "143k IOPS"), (3726, "files/s", "3.73k files/s"), (np.float64(2.5e9), "numbers/s",
          "2.50G numbers/s"), (903.1, "ops/s", "903 ops/s"), (12.345, "ops/s", "12.3 ops/s"),
          (1.5, "ops/s", "1.50 ops/s"), (0.0123, "ops/s", "0.0123 ops/s"), (0.5, "IOPS", "0.500 IOPS"),
          (1.5e-9, "ops/s", "1.50e-09 ops/s"), (5e15, "ops/s", "5.00P ops/s"), (5e18, "ops/s", "5000P ops/s"),
          (143_000, "widgets", "143k widgets"), (143_000, "", "143k"), (np.int64(12345), "op/s", "12.3k op/s"),
          (np.float32(3.14159), "ops/s", "3.14 ops/s")]
# units with a scale of their own: bytes binary, bits and FLOPs SI on the unit, times down to ns, Mupdates/s counted
SCALED = [(1767, "MiB/s", "1.73 GiB/s"), (903.1, "MiB/s", "903 MiB/s"), (1000, "MiB/s", "1000 MiB/s"),
          (1024, "MiB/s", "1.00 GiB/s"), (0.5, "MiB/s", "512 KiB/s"), (2.5 * 2**20, "MiB/s", "2.50 TiB/s"),
          (25_276_510_208, "B", "23.5 GiB"), (8 * 2**30, "B", "8.00 GiB"), (512, "B", "512 B"),
          (104_857_600_000, "B/s", "97.7 GiB/s"), (2048, "MiB", "2.00 GiB"), (9400, "Mbit/s", "9.40 Gbit/s"),
          (940, "Mbit/s", "940 Mbit/s"), (0.5, "Mbit/s", "500 kbit/s"), (45.2, "GFLOP/s", "45.2 GFLOP/s"),
          (1500, "GFLOP/s", "1.50 TFLOP/s"), (150, "Mupdates/s", "150M updates/s"),
          (0.25, "Mupdates/s", "250k updates/s"), (903, "ms", "903 ms"), (0.0123, "s", "12.3 ms"),
          (0.903, "s", "903 ms"), (2.31, "s", "2.31 s"), (1234, "s", "1234 s"), (3600, "s", "3600 s"),
          (12.5, "us", "12.5 us"), (1500, "us", "1.50 ms"), (1e-6, "s", "1.00 us"), (0.001, "s", "1.00 ms"),
          (85.3, "ns", "85.3 ns"), (0.5, "ns", "0.500 ns"), (2500, "ns", "2.50 us"), (12.5, "\u00b5s", "12.5 us")]
# a rounding that reaches the next step takes it: 999.5 is 1.00k (and a binary step's 1023.5 is 1.00 Gi)
CARRIES = [(999.4, "ops/s", "999 ops/s"), (999.5, "ops/s", "1.00k ops/s"), (999.7, "ops/s", "1.00k ops/s"),
           (999_499, "ops/s", "999k ops/s"), (999_500, "ops/s", "1.00M ops/s"), (9.996, "ops/s", "10.0 ops/s"),
           (99.96, "ops/s", "100 ops/s"), (1023.4, "MiB/s", "1023 MiB/s"), (1023.7, "MiB/s", "1.00 GiB/s"),
           (999.7, "ns", "1.00 us"), (999.7, "ms", "1.00 s"), (0.9997, "ms", "1.00 ms"), (1000, "us", "1.00 ms"),
           (0.99949, "ops/s", "0.999 ops/s"), (0.99951, "ops/s", "1.00 ops/s")]
# zero in the unit given, a negative with its sign, a missing value as -
EDGES = [(0, "ops/s", "0 ops/s"), (0.0, "MiB/s", "0 MiB/s"), (-0.0, "s", "0 s"), (np.float64(0.0), "", "0"),
         (-1767, "MiB/s", "-1.73 GiB/s"), (-143_000, "ops/s", "-143k ops/s"), (-0.0123, "s", "-12.3 ms"),
         (None, "ops/s", "-"), (NAN, "MiB/s", "-"), (np.float64(NAN), "s", "-"), (np.float32(NAN), "us", "-"),
         (math.inf, "ops/s", "-"), (-math.inf, "s", "-"), (True, "ops/s", "-"), ("12", "ops/s", "-"),
         (143_000, None, "143k"), (143_000, NAN, "143k")]
PLURAL = [(0, "host", "0 hosts"), (1, "host", "1 host"), (2, "host", "2 hosts"), (np.int64(1), "case", "1 case"),
          (3, "CPU", "3 CPUs"), ("?", "warmup round", "? warmup rounds")]
OVERHEAD_PCT = [(None, "-"), (NAN, "-"), (np.float64(NAN), "-"), (math.inf, "-"), (True, "-"), (0, "0%"),
                (-0.0, "0%"), (np.float64(0.0), "0%"), (0.000123456, "+0.00%"), (0.0123, "+0.01%"),
                (-0.35, "-0.35%"), (-0.004, "-0.00%"), (0.999, "+1.00%"), (1.0, "+1.0%"), (4.44, "+4.4%"),
                (-12.345, "-12.3%"), (999.96, "+1000.0%"), (1000.0, "+1,000%"), (6757.3, "+6,757%"),
                (np.float64(1234.5678), "+1,235%"), (-98765.4321, "-98,765%"), (np.float32(3.14159), "+3.1%")]
P_VALUE = [(None, "-"), (NAN, "-"), (np.float64(NAN), "-"), (math.inf, "-"), (True, "-"), (0, "<0.001"),
           (0.0004, "<0.001"), (0.001, "0.001"), (0.0123, "0.012"), (0.05, "0.050"), (np.float64(0.5), "0.500"),
           (0.99949, "0.999"), (0.9999, "1.000"), (-0.35, "<0.001"), (1234.5678, "1234.568")]
IS_NUMBER = [(None, False), (NAN, False), (np.float64(NAN), False), (math.inf, False), (True, False), ("1", False),
             (0, True), (np.float64(0.0), True), (np.int64(12345), True), (np.float32(3.14159), True), (-1e20, True)]


@pytest.mark.parametrize("value, text", SIG)
def test_sig_gives_four_significant_digits(value, text):
    assert fmt.sig(value) == text


@pytest.mark.parametrize("value, text", SIG3)
def test_sig_gives_the_digits_asked_for(value, text):
    assert fmt.sig(value, 3) == text


def test_sig_shows_a_missing_value_as_asked():
    assert fmt.sig(None, missing="n/a") == fmt.sig(NAN, 3, "n/a") == "n/a"


@pytest.mark.parametrize("value, text", SIGNED_PCT)
def test_signed_pct_has_a_sign_and_one_decimal(value, text):
    assert fmt.signed_pct(value) == text


def test_signed_pct_shows_a_missing_value_as_asked():
    assert [fmt.signed_pct(v, "n/a") for v in (None, NAN, np.float64(NAN), 4.44)] == ["n/a", "n/a", "n/a", "+4.4%"]


def test_signed_interval_brackets_two_signed_pct_bounds():
    assert fmt.signed_interval(-1.25, np.float64(3.44)) == "[-1.2%, +3.4%]"
    assert fmt.signed_interval(0, -98765.4321) == "[+0.0%, -98765.4%]"
    assert fmt.signed_interval(NAN, None) == "[-, -]"
    assert fmt.signed_interval(NAN, 2.5, "n/a") == "[n/a, +2.5%]"


def test_change_interval_is_missing_when_its_lower_bound_is():
    assert fmt.change_interval(-1.25, 3.44) == "[-1.2%, +3.4%]"
    assert fmt.change_interval(1.0, NAN) == "[+1.0%, -]"
    assert fmt.change_interval(NAN, 3.44) == fmt.change_interval(np.float64(NAN), NAN) == "-"


@pytest.mark.parametrize("value, unit, text", [
    *(pytest.param(*case, id=f"count-{case[0]}{case[1]}") for case in COUNTS),
    *(pytest.param(*case, id=f"scaled-{case[0]}{case[1]}") for case in SCALED),
    *(pytest.param(*case, id=f"carry-{case[0]}{case[1]}") for case in CARRIES),
    *(pytest.param(*case, id=f"edge-{case[0]}{case[1]}") for case in EDGES)])
def test_quantity(value, unit, text):
    """A count takes SI prefixes on the number, a scaled unit (bytes, bits, FLOP, time) moves along its scale, a
    rounding that reaches the next step takes it; zero, negatives and missing values."""
    assert fmt.quantity(value, unit) == text


def test_quantity_shows_a_missing_value_as_asked():
    assert fmt.quantity(None, "s", missing="unknown") == fmt.quantity(NAN, "MiB/s", "unknown") == "unknown"


def test_every_unit_a_built_in_workload_declares_has_its_scale_or_is_counted():
    """A new unit is a decision: give it a scale in fmt.UNITS (a size, a time, a rate of bits) or count it here."""
    from vbench import catalog

    counted = {"ops/s", "IOPS", "files/s", "numbers/s", "transactions/s"}
    units = {unit for name in catalog.workload_names() if catalog.origin(name) == catalog.BUILT_IN
             for unit, _ in catalog.describe(name).metrics.values()}
    assert units - counted - set(fmt.UNITS) == set()
    assert [fmt.quantity(123_456.0, unit) for unit in ("ops/s", "MiB/s", "us", "Mupdates/s")] == \
        ["123k ops/s", "121 GiB/s", "123 ms", "123G updates/s"]


@pytest.mark.parametrize("count, noun, text", PLURAL)
def test_plural_counts_a_noun(count, noun, text):
    assert fmt.plural(count, noun) == text


def test_plural_takes_an_irregular_plural():
    assert fmt.plural(2, "index", "indices") == "2 indices" and fmt.plural(1, "index", "indices") == "1 index"


@pytest.mark.parametrize("value, text", OVERHEAD_PCT)
def test_overhead_pct_widens_with_its_size(value, text):
    assert fmt.overhead_pct(value) == text


def test_interval_brackets_two_overhead_pct_bounds_or_is_missing():
    assert fmt.interval(-1.25, np.float64(3.44)) == "[-1.2%, +3.4%]"
    assert fmt.interval(0, -0.35) == "[0%, -0.35%]"
    assert fmt.interval(np.int64(12345), 6757.3) == "[+12,345%, +6,757%]"
    assert [fmt.interval(*bounds) for bounds in ((NAN, 1.0), (1.0, None), (math.inf, 1.0), (True, 1.0))] == ["-"] * 4


@pytest.mark.parametrize("value, text", P_VALUE)
def test_p_value_has_three_decimals(value, text):
    assert fmt.p_value(value) == text


@pytest.mark.parametrize("value, expected", IS_NUMBER)
def test_is_number_is_a_finite_real_not_a_bool(value, expected):
    assert fmt.is_number(value) is expected


def test_the_report_imports_the_same_formatters_from_labels():
    from vbench.report import labels

    assert (labels.fmt_pct, labels.fmt_ci, labels.is_number) == (fmt.overhead_pct, fmt.interval, fmt.is_number)
