"""The one place numbers become text: the console's progress and summary, ``vbench compare``, the claims' reasons
and the HTML reports all format their measured values (with their units), percentages, intervals, p-values and
counts with these functions, so that one number reads the same wherever it is shown. A value that is not there
shows as ``missing``: "-" unless the caller asks for another marker (the claims' reasons say "n/a"). A leaf: it
imports only the standard library.
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
    """A value to ``digits`` significant digits, 1235 or 1.235e+08: the p-values of the console's summary and
    ``vbench compare``."""
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


# A scale: its steps from the smallest up, each (its size in the scale's base unit, the prefix written on the
# number, the unit written after it). A count puts the prefix on the number (143k ops/s), a size, a rate of bits
# or bytes and a time on the unit (1.73 GiB/s, 9.40 Gbit/s, 12.3 ms).
Scale = tuple[tuple[float, str, str], ...]
SI = ("", "k", "M", "G", "T", "P")
BINARY = ("", "Ki", "Mi", "Gi", "Ti", "Pi")


def _scale(base: str, prefixes: tuple[str, ...], ratio: int, on_number: bool) -> Scale:
    """The steps of ``base`` with each prefix, ``ratio`` times the one before."""
    return tuple((float(ratio**i), prefix if on_number else "", base if on_number else prefix + base)
                 for i, prefix in enumerate(prefixes))


TIME: Scale = ((1e-9, "", "ns"), (1e-6, "", "us"), (1e-3, "", "ms"), (1.0, "", "s"))
BYTES = _scale("B", BINARY, 1024, on_number=False)
BYTE_RATE = _scale("B/s", BINARY, 1024, on_number=False)
BIT_RATE = _scale("bit/s", SI, 1000, on_number=False)
FLOP_RATE = _scale("FLOP/s", SI, 1000, on_number=False)
# The units the workloads report that belong to a scale of their own, each with its size in that scale's base
# unit. Any other unit (ops/s, IOPS, files/s, numbers/s, transactions/s, a third-party workload's) is counted:
# SI prefixes on the number.
UNITS: dict[str, tuple[float, Scale]] = {
    **{unit: (size, scale) for scale in (TIME, BYTES, BYTE_RATE, BIT_RATE, FLOP_RATE) for size, _, unit in scale},
    "\u00b5s": (1e-6, TIME),
    "Mupdates/s": (1e6, _scale("updates/s", SI, 1000, on_number=True)),
}


def quantity(value: Any, unit: Any, missing: str = MISSING) -> str:
    """A measured value with its unit as people read it, to three significant digits: 143k ops/s, 1.43M IOPS,
    1.73 GiB/s (from 1767 MiB/s), 9.40 Gbit/s, 12.3 ms (from 0.0123 s), 903 ms. A rounding that reaches the next
    step takes it (999.7 ops/s is 1.00k ops/s, 1023.7 MiB/s is 1.00 GiB/s); zero is 0 in the unit given; past the
    largest step the number is whole (1234 s). Not a finite number: ``missing``."""
    unit = unit if isinstance(unit, str) else ""
    if not is_number(value):
        return missing
    if value == 0:
        return f"0 {unit}".rstrip()
    size, scale = UNITS.get(unit) or (1.0, _scale(unit, SI, 1000, on_number=True))
    base = abs(value) * size
    step, prefix, shown = scale[_step(base, scale)]
    sign = "-" if value < 0 else ""
    return f"{sign}{_three_digits(base / step)}{prefix} {shown}".rstrip()


def _step(base: float, scale: Scale) -> int:
    """The step ``base`` (in the scale's base unit) is written in: the largest not above it (the smallest when
    every one is), or the next one up when the rounding reaches it."""
    index = max((i for i, step in enumerate(scale) if step[0] <= base), default=0)
    if index + 1 == len(scale):
        return index
    ratio = round(scale[index + 1][0] / scale[index][0])
    return index + 1 if float(_three_digits(base / scale[index][0])) >= ratio else index


def _three_digits(number: float) -> str:
    """A positive number to three significant digits, trailing zeros kept (1.00, 18.0, 143); whole from 1000 (a
    largest step's 1234, a binary step's 1010), in exponent form below 0.001."""
    if number >= 1000:
        return f"{number:.0f}"
    rounded = float(f"{number:.3g}")
    if rounded < 0.001:
        return f"{number:.2e}"
    return f"{rounded:.{max(0, 2 - math.floor(math.log10(rounded)))}f}"


def plural(count: Any, noun: str, many: str | None = None) -> str:
    """``count`` and ``noun``, plural unless the count is 1: "1 host", "2 hosts", "0 cases"; ``many`` is the plural
    of a noun that does not take an s."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"
