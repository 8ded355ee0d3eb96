"""vbench.fmt: every formatter on captured values. The expected strings are what the console's, compare's, the
claims' and the report's own formatters returned before they became these, so a change here changes what is shown."""
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
TABLE_NUM = [(None, "-"), (NAN, "-"), (np.float64(NAN), "-"), (math.inf, "-"), (True, "-"), ("x", "-"), (0, "0"),
             (-0.0, "-0"), (0.000123456, "0.0001235"), (1.5e-9, "1.5e-09"), (-0.35, "-0.35"), (999.94, "999.9"),
             (999.96, "1000"), (1000.0, "1,000"), (np.int64(12345), "12,345"), (np.float64(1234.5678), "1,235"),
             (123456789.123, "123,456,789"), (-98765.4321, "-98,765"), (np.float32(3.14159), "3.142")]
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


@pytest.mark.parametrize("value, text", TABLE_NUM)
def test_table_num_separates_thousands(value, text):
    assert fmt.table_num(value) == text


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

    assert (labels.fmt_num, labels.fmt_pct, labels.fmt_ci, labels.is_number) == \
        (fmt.table_num, fmt.overhead_pct, fmt.interval, fmt.is_number)
