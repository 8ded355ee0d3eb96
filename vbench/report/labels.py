"""How the report names and orders environments and cases, and how it writes numbers.

TCG is emulation, not virtualization, so an environment that ran under TCG carries "(TCG emulation)" in every
label the report shows, in figures and tables alike.
"""
from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any, Iterable

from vbench.model import BASELINE  # noqa: F401  (re-exported for the report's modules)

if TYPE_CHECKING:
    import pandas as pd

TCG_SUFFIX = " (TCG emulation)"


def emulated_environments(frame: "pd.DataFrame") -> set[str]:
    """Environments that ran under TCG: from the trials' accelerator and, for runs whose trials do not record it,
    from the environment fingerprints in run.json."""
    found = set(frame.loc[frame["accelerator"] == "tcg", "environment"])
    fingerprints = frame.attrs.get("run", {}).get("env_fingerprints") or {}
    for label, fingerprint in fingerprints.items():
        if isinstance(fingerprint, dict) and fingerprint.get("accelerator") == "tcg":
            found.add(str(label))
    return found


def environment_order(frame: "pd.DataFrame") -> list[str]:
    """Environments in the run's order (run.json), native first, then any others the trials name."""
    declared = [str(e) for e in frame.attrs.get("run", {}).get("environments") or []]
    seen = sorted(set(frame["environment"].dropna().astype(str)) - set(declared))
    order = list(dict.fromkeys(declared + seen))
    return sorted(order, key=lambda e: e != BASELINE)


def case_order(frame: "pd.DataFrame") -> list[str]:
    """Cases in the suite's order, then any others the trials name."""
    entries = frame.attrs.get("run", {}).get("suite", {}).get("entries") or []
    declared = [str(e.get("name")) for e in entries if isinstance(e, dict)]
    present = set(frame["case"].dropna().astype(str))
    return [c for c in dict.fromkeys(declared + sorted(present)) if c in present]


def environment_labels(frame: "pd.DataFrame") -> dict[str, str]:
    """Display label of every environment: its name, plus " (TCG emulation)" where it ran under TCG."""
    emulated = emulated_environments(frame)
    return {env: env + TCG_SUFFIX if env in emulated else env
            for env in list(dict.fromkeys(environment_order(frame) + sorted(emulated)))}


def environment_colors(order: Iterable[str]) -> dict[str, str]:
    """One colour per environment, the same in every figure; native is grey."""
    palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf",
               "#bcbd22"]
    others = [e for e in order if e != BASELINE]
    colors = {env: palette[i % len(palette)] for i, env in enumerate(others)}
    return {BASELINE: "#7f7f7f", **colors}


def is_number(value: Any) -> bool:
    """True for a finite real number (numpy's included, bools not)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


def fmt_num(value: Any) -> str:
    """A measured value for a table: thousands separated, about four significant digits."""
    if not is_number(value):
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def fmt_pct(value: Any) -> str:
    """An overhead in percent with its sign: +4.4%, -0.35%, +6,757%."""
    if not is_number(value):
        return "-"
    if value == 0:
        return "0%"
    if abs(value) < 1:
        return f"{value:+.2f}%"
    if abs(value) < 1000:
        return f"{value:+.1f}%"
    return f"{value:+,.0f}%"


def fmt_ci(low: Any, high: Any) -> str:
    """A confidence interval: [-1.2%, +3.4%], or - when unknown."""
    if not (is_number(low) and is_number(high)):
        return "-"
    return f"[{fmt_pct(low)}, {fmt_pct(high)}]"


def fmt_p(value: Any) -> str:
    """A p-value: three decimals, or <0.001."""
    if not is_number(value):
        return "-"
    return "<0.001" if value < 0.001 else f"{value:.3f}"
