"""Parsing of sizes and durations shared by workloads (stdlib only)."""
from __future__ import annotations

import re

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*$")
_FACTOR = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str | int) -> int:
    """Bytes in ``"64M"``, ``"4k"``, ``"1GiB"`` or a plain integer (binary multiples, as fio reads them)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    match = _SIZE.match(str(text))
    if not match:
        raise ValueError(f"not a size: {text!r} (expected e.g. 4k, 64M, 1G)")
    return int(float(match.group(1)) * _FACTOR[match.group(2).lower()])


def format_size(size: int) -> str:
    """``size`` bytes in the largest binary unit that divides it exactly (``"64M"``, ``"4k"``, ``"65507"``)."""
    for suffix in ("t", "g", "m", "k"):
        factor = _FACTOR[suffix]
        if size and size % factor == 0:
            return f"{size // factor}{suffix if suffix == 'k' else suffix.upper()}"
    return str(size)
