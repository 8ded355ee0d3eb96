"""Collector time series of chosen trials: CPU, memory and block I/O over one typical trial per environment.

The typical trial is the measured trial with the median primary value of the run's first case, so what the
reader sees is neither the best nor the worst run.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vbench.report.figures import figure, svg_data_uri
from vbench.fmt import is_number, quantity

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes

MIB = 2**20
# panel -> (y label, [(collector, key or keys summed, line label, as a rate)])
PANELS = {
    "CPU": ("cores busy", [("psutil", ("cpu_user_s", "cpu_system_s"), "process tree (psutil)", True),
                           ("cgroup", ("cpu_usage_s",), "cgroup", True)]),
    "memory": ("MiB", [("psutil", ("rss_bytes",), "RSS (psutil)", False),
                       ("cgroup", ("memory_bytes",), "cgroup usage", False)]),
    "block I/O": ("MiB since the first sample", [("psutil", ("read_bytes",), "read (psutil)", False),
                                 ("psutil", ("write_bytes",), "written (psutil)", False),
                                 ("cgroup", ("io_read_bytes",), "read (cgroup)", False),
                                 ("cgroup", ("io_write_bytes",), "written (cgroup)", False)]),
}
STYLES = {"psutil": "-", "cgroup": "--"}


def typical_trials(measured: "pd.DataFrame", cases: list[str], envs: list[str]) -> list[dict]:
    """Per environment, the measured trial of the first case with the median primary value (the lower middle
    one for an even count)."""
    case = next((c for c in cases if c in set(measured["case"])), None)
    chosen = []
    for env in envs:
        trials = measured[(measured["case"] == case) & (measured["environment"] == env)]
        if len(trials):
            row = trials.sort_values(["value", "trial_id"]).iloc[(len(trials) - 1) // 2]
            chosen.append({"environment": env, "trial_id": row["trial_id"], "case": case,
                           "value": quantity(row["value"], row["unit"]), "n": len(trials)})
    return chosen


def load_samples(run_dir: Path, relative: Any) -> tuple[dict | None, str | None]:
    """The trial's sample series and None, or None and why not. Only files inside the run directory are read."""
    if not isinstance(relative, str) or not relative:
        return None, "the trial names no sample file"
    root = run_dir.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        return None, "the trial's sample path points outside the run directory; not read"
    try:
        series = json.loads(path.read_text())
    except FileNotFoundError:
        return None, "the sample file is missing"
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return None, f"the sample file is unreadable ({type(exc).__name__})"
    if not isinstance(series, dict) or not any(isinstance(v, list) and v for v in series.values()):
        return None, "no samples were recorded for this trial"
    return series, None


def collector_figure(series: dict) -> str:
    """Three panels (CPU, memory, block I/O) over the trial's time; a panel without data says so."""
    with figure(11.0, 2.5) as fig:
        axes = fig.subplots(1, len(PANELS))
        for ax, (title, (unit, lines)) in zip(axes, PANELS.items()):
            _panel(ax, title, unit, series, lines)
        return svg_data_uri(fig)


def _panel(ax: "Axes", title: str, unit: str, series: dict, lines: list) -> None:
    drawn = 0
    for collector, keys, label, rate in lines:
        t, v = _column(series.get(collector), keys)
        if rate:
            t, v = _rate(t, v)
        elif "io_" in keys[0] or keys[0] in ("read_bytes", "write_bytes"):
            v = [(x - v[0]) / MIB for x in v]  # cgroup counters count from the container's start
        else:
            v = [x / MIB for x in v]
        if len(t) >= 1:
            color = "#ff7f0e" if "written" in label else "#1f77b4"  # the collector is the line style
            ax.plot(t, v, STYLES[collector], color=color, label=label, linewidth=1.2,
                    marker="." if len(t) < 4 else None)
            drawn += 1
    ax.set_title(title)
    ax.set_xlabel("seconds into the trial", fontsize=7)
    ax.set_ylabel(unit, fontsize=7)
    ax.tick_params(labelsize=7)
    if drawn:
        ax.legend(fontsize=6.5, frameon=False)
        ax.set_ylim(bottom=0)
    else:
        ax.text(0.5, 0.5, "not recorded", transform=ax.transAxes, ha="center", va="center", color="grey")
        ax.set_xticks([])
        ax.set_yticks([])


def _column(records: Any, keys: tuple[str, ...]) -> tuple[list[float], list[float]]:
    """Time and the sum of ``keys`` of every sample record that has them all as numbers."""
    if not isinstance(records, list):
        return [], []
    t, v = [], []
    for record in records:
        if isinstance(record, dict) and is_number(record.get("t")) and all(is_number(record.get(k)) for k in keys):
            t.append(float(record["t"]))
            v.append(float(sum(record[k] for k in keys)))
    return t, v


def _rate(t: list[float], v: list[float]) -> tuple[list[float], list[float]]:
    """Per-second rate of a cumulative counter, at the midpoints of the sample intervals."""
    points = [((t0 + t1) / 2, (v1 - v0) / (t1 - t0))
              for t0, t1, v0, v1 in zip(t, t[1:], v, v[1:]) if t1 > t0 and math.isfinite(v1 - v0)]
    return [p[0] for p in points], [p[1] for p in points]
