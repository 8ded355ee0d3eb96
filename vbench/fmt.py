"""The one place numbers become text: the console's summary, ``vbench compare``, the claims' reasons and the HTML
report all format their values, percentages, intervals and p-values with these functions, so that one number reads
the same wherever it is shown. A value that is not there shows as ``missing``: "-" unless the caller asks for
another marker (the claims' reasons say "n/a"). A leaf: it imports only the standard library.
"""
from __future__ import annotations

import math
import numbers
from typing import Any

MISSING = "-"


def is_number(value: Any) -> bool:
    """True for a finite real number (numpy's included, bools not)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def _absent(value: Any) -> bool:
    """True for None and NaN, the values the console, compare and the claims show as missing."""
    return value is None or math.isnan(value)


def sig(value: Any, digits: int = 4, missing: str = MISSING) -> str:
    """A value to ``digits`` significant digits, 1235 or 1.235e+08: the console's summary and ``vbench compare``."""
    return missing if _absent(value) else f"{value:.{digits}g}"


def signed_pct(value: Any, missing: str = MISSING) -> str:
    """A percentage with its sign and one decimal, +4.4%: the console's summary, compare and the claims' reasons."""
    return missing if _absent(value) else f"{value:+.1f}%"


def signed_interval(low: Any, high: Any, missing: str = MISSING) -> str:
    """A CI of two signed_pct bounds, [-1.2%, +3.4%] (each bound missing alone): the console and the claims."""
    return f"[{signed_pct(low, missing)}, {signed_pct(high, missing)}]"


def change_interval(low: Any, high: Any) -> str:
    """A CI of two signed_pct bounds, or - when its lower bound is unknown: ``vbench compare``."""
    return MISSING if _absent(low) else signed_interval(low, high)


def table_num(value: Any) -> str:
    """A measured value with thousands separated, about four significant digits: the report's tables."""
    if not is_number(value):
        return MISSING
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def overhead_pct(value: Any) -> str:
    """An overhead in percent with its sign and a width for its size, +4.4%, -0.35%, +6,757%: the report."""
    if not is_number(value):
        return MISSING
    if value == 0:
        return "0%"
    if abs(value) < 1:
        return f"{value:+.2f}%"
    if abs(value) < 1000:
        return f"{value:+.1f}%"
    return f"{value:+,.0f}%"


def interval(low: Any, high: Any) -> str:
    """A CI of two overhead_pct bounds, [-1.2%, +3.4%], or - when either is unknown: the report."""
    if not (is_number(low) and is_number(high)):
        return MISSING
    return f"[{overhead_pct(low)}, {overhead_pct(high)}]"


def correlation(value: Any) -> str:
    """A correlation coefficient to two decimals with its sign, +0.31: the report's lag-1 column."""
    return MISSING if not is_number(value) else f"{value:+.2f}"


def p_value(value: Any) -> str:
    """A p-value to three decimals, or <0.001: the report."""
    if not is_number(value):
        return MISSING
    return "<0.001" if value < 0.001 else f"{value:.3f}"
