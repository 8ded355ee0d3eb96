"""The allowed values of workload parameters, declared once and checked on both sides (stdlib only).

Every workload module declares ``RULES``: parameter name -> one of the rules below, one for every key of its
``PARAMS``. The host (``vbench.catalog``, when a suite is parsed) and the guest (``workloads/run.py``, before
``run`` is called) check parameters against the same declarations, so a bad value is refused before anything
runs, and an invocation sent straight to a runner still fails with a clear reason instead of reaching ``run``.
A check that relates two parameters (fio's ``bs <= size``) is the module's optional ``check_params(params)``,
which raises ValueError; both sides call it with the defaults filled in.

A rule's ``problem(value)`` is None for a good value, else a phrase for the host's ``field: phrase`` errors
(``"'x' is not one of read, write"``); ``expected`` says what a good value is, for the guest's
``name must be <expected>; got <value>`` errors.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Union

from workloads.units import format_size, parse_size

SHOWN_CHARS = 80  # a hostile value must not turn a one-line error into a page


def shown(value: Any) -> str:
    """``repr(value)``, cut short when long."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS - 3] + "..."


def _number_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


@dataclass(frozen=True)
class Choice:
    """A string from a fixed set."""

    values: tuple[str, ...]

    @property
    def expected(self) -> str:
        return f"one of {', '.join(self.values)}"

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return f"expected a string, got {shown(value)}"
        return None if value in self.values else f"{shown(value)} is not {self.expected}"


@dataclass(frozen=True)
class Number:
    """A number from ``low`` to ``high`` inclusive; an int when ``integer`` (an int is a good float too)."""

    low: float
    high: float
    integer: bool = False

    @property
    def expected(self) -> str:
        kind = "an integer" if self.integer else "a number"
        return f"{kind} from {_number_text(self.low)} to {_number_text(self.high)}"

    def problem(self, value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"expected {'an integer' if self.integer else 'a number'}, got {shown(value)}"
        if self.integer and not isinstance(value, int):
            return f"expected an integer, got {shown(value)}"
        if not self.low <= value <= self.high:  # written so that NaN fails too
            return f"{shown(value)} is out of range ({_number_text(self.low)} to {_number_text(self.high)})"
        return None


@dataclass(frozen=True)
class Size:
    """A size string such as ``"4k"`` or ``"64M"`` (:func:`workloads.units.parse_size`) of ``low`` to ``high``
    bytes inclusive."""

    low: int
    high: int

    @property
    def expected(self) -> str:
        return f"a size from {format_size(self.low)} to {format_size(self.high)}"

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return f"expected a string such as '64M', got {shown(value)}"
        try:
            size = parse_size(value)
        except ValueError as exc:
            return str(exc)
        if not self.low <= size <= self.high:
            return f"{shown(value)} is out of range ({format_size(self.low)} to {format_size(self.high)})"
        return None


@dataclass(frozen=True)
class Flag:
    """true or false."""

    expected = "true or false"

    def problem(self, value: Any) -> str | None:
        return None if isinstance(value, bool) else f"expected true or false, got {shown(value)}"


@dataclass(frozen=True)
class Text:
    """A free string of at most ``max_len`` characters that ``pattern`` matches whole; ``what`` names it."""

    what: str
    pattern: str
    max_len: int

    @property
    def expected(self) -> str:
        return f"{self.what} of at most {self.max_len} characters"

    def problem(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return f"expected a string, got {shown(value)}"
        if len(value) > self.max_len:
            return f"{len(value)} characters is longer than {self.max_len}"
        return None if re.fullmatch(self.pattern, value) else f"{shown(value)} is not {self.what}"


Rule = Union[Choice, Number, Size, Flag, Text]


def check(params: dict, rules: dict[str, Rule]) -> dict:
    """``params`` when every one is declared in ``rules`` and keeps its rule; else ValueError naming the first
    that does not."""
    for name, value in params.items():
        rule = rules.get(name)
        if rule is None:
            raise ValueError(f"unknown parameter {shown(name)}; known: {', '.join(sorted(rules))}")
        if rule.problem(value) is not None:
            raise ValueError(f"{name} must be {rule.expected}; got {shown(value)}")
    return params


def check_workload(module: Any, params: dict) -> dict:
    """``params`` (defaults filled in) checked against ``module.RULES`` and the module's ``check_params``."""
    check(params, module.RULES)
    cross_check = getattr(module, "check_params", None)
    if cross_check is not None:
        cross_check(params)
    return params
