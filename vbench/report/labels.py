"""How the report names and orders environments and cases. Its numbers are written by ``vbench.fmt``, whose
formatters this module re-exports under the names the report's modules import (``fmt_pct``, ``fmt_ci``, ...).

TCG is emulation, not virtualization, so an environment that ran under TCG carries "(TCG emulation)" in every
label the report shows, in figures and tables alike.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

# re-exported for the report's modules: BASELINE, and vbench.fmt's formatters under the names they import
from vbench.fmt import interval as fmt_ci, is_number, overhead_pct as fmt_pct  # noqa: F401
from vbench.model import BASELINE, EMULATION_SUFFIX, TCG  # noqa: F401

if TYPE_CHECKING:
    import pandas as pd

TCG_SUFFIX = EMULATION_SUFFIX


def emulated_environments(frame: "pd.DataFrame") -> set[str]:
    """Environments that ran under TCG: from the trials' accelerator and, for runs whose trials do not record it,
    from the environment fingerprints in run.json."""
    found = set(frame.loc[frame["accelerator"] == TCG, "environment"])
    fingerprints = frame.attrs.get("run", {}).get("env_fingerprints") or {}
    for label, fingerprint in fingerprints.items():
        if isinstance(fingerprint, dict) and fingerprint.get("accelerator") == TCG:
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
