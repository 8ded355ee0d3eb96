"""The report's summary figures: overhead bars with CIs, and the trials' distributions per workload.

Figures are drawn on bare matplotlib ``Figure`` objects (no pyplot, so no GUI backend and no global state) and
returned as base64 SVG data URIs for an ``<img>``: text from a result can never become markup in the page.
"""
from __future__ import annotations

import base64
import io
import math
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

from vbench.report.labels import BASELINE, TCG_SUFFIX, fmt_pct

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SYMLOG_BEYOND = 100.0   # a linear axis while every overhead and CI bound stays within +-this many percent
LINTHRESH = 10.0        # symlog: linear within +-10%, so small container overheads stay readable
RC = {"svg.fonttype": "path", "svg.hashsalt": "vbench", "font.size": 9,
      "axes.spines.top": False, "axes.spines.right": False, "axes.titlesize": 9, "legend.fontsize": 8}


@contextmanager
def figure(width: float, height: float) -> Iterator["Figure"]:
    """A fresh figure under the report's style."""
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(RC):
        yield Figure(figsize=(width, height), layout="constrained")


def plain(text: object) -> str:
    """A string from a result as literal figure text: every ``$`` escaped, so it is never parsed as mathtext."""
    return str(text).replace("$", r"\$")


def svg_data_uri(fig: "Figure") -> str:
    """The figure as an SVG ``data:`` URI (deterministic: no date, fixed ids)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    return "data:image/svg+xml;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def overhead_bars(table: "pd.DataFrame", cases: list[str], envs: list[str], labels: dict[str, str],
                  colors: dict[str, str]) -> tuple[str, bool] | None:
    """Horizontal bars of every overhead, grouped by case, with 95% CI whiskers; (data URI, symlog used).

    None when there is nothing to compare (a native-only run)."""
    if table.empty:
        return None
    cases = [c for c in cases if c in set(table["case"])]
    envs = [e for e in envs if e in set(table["environment"])]
    rows = {(r.case, r.environment): r for r in table.itertuples(index=False)}
    step = len(envs) + 0.8
    with figure(9.5, 0.9 + 0.2 * step * len(cases)) as fig:
        ax = fig.add_subplot()
        for i, case in enumerate(cases):
            for j, env in enumerate(envs):
                if (case, env) in rows:
                    _overhead_bar(ax, i * step + j, rows[case, env], colors[env], labels[env].endswith(TCG_SUFFIX))
        ax.set_yticks([i * step + (len(envs) - 1) / 2 for i in range(len(cases))],
                      [plain(f"{c}\n{_metric_of(table, c)}") for c in cases])
        ax.set_ylim((len(cases) - 1) * step + len(envs) - 0.2, -0.8)  # top to bottom, no empty margins
        ax.axvline(0, color="black", linewidth=0.8)
        symlog = _overhead_scale(ax, table)
        ax.set_xlabel("overhead vs native in % (positive = slower); whiskers: 95% signed-rank CI")
        fig.legend(handles=_legend_handles(envs, labels, colors), loc="outside upper center",
                   ncols=min(len(envs), 4), frameon=False)
        ax.grid(axis="x", color="#dddddd", linewidth=0.6)
        ax.set_axisbelow(True)
        return svg_data_uri(fig), symlog


def forest(table: "pd.DataFrame", cases: list[str], envs: list[str], labels: dict[str, str],
           colors: dict[str, str], floor: float | None) -> str | None:
    """The overheads as a forest plot: a row per case and environment, its estimate as a point and its 95% CI
    as a line, the A/A floor (``floor``, in %) as a shaded band around 0; environments under TCG emulation in a
    panel of their own, on their own axis, so they neither squash the rest nor read as virtualization. None
    when there is nothing to compare."""
    if table.empty:
        return None
    present = set(table.loc[table["overhead_pct"].notna(), "environment"])  # one with no comparable case: none
    hardware = [e for e in envs if e in present and not labels[e].endswith(TCG_SUFFIX)]
    emulated = [e for e in envs if e in present and labels[e].endswith(TCG_SUFFIX)]
    cases = [c for c in cases if c in set(table["case"])]
    rows = {(r.case, r.environment): r for r in table.itertuples(index=False)}
    kinds = {e.split(":")[0] for e in hardware}
    first = "containers" if kinds <= {"docker", "dockernet"} else "containers and VMs under KVM" \
        if kinds <= {"docker", "dockernet", "vm"} else "environments"
    panels = [(group, title) for group, title in ((hardware, first),
                                                  (emulated, "TCG software emulation (not virtualization)")) if group]
    if not panels:  # no environment has a comparable case
        return None
    step = max(len(group) for group, _ in panels) + 0.8
    with figure(9.5, 1.1 + 0.17 * step * len(cases)) as fig:
        axes = fig.subplots(1, len(panels), sharey=True, squeeze=False,
                            width_ratios=[3, 2][:len(panels)] if len(panels) == 2 else None)[0]
        for ax, (group, title) in zip(axes, panels):
            if floor and group is hardware:
                ax.axvspan(-floor, floor, color="#e8e8e8", zorder=0, label="A/A noise floor")
            for i, case in enumerate(cases):
                for j, env in enumerate(group):
                    if (case, env) in rows:
                        _forest_point(ax, i * step + j, rows[case, env], colors[env])
            ax.axvline(0, color="black", linewidth=0.8)
            _overhead_scale(ax, table[table["environment"].isin(group)])
            ax.set_title(plain(title), fontsize=8)
            ax.grid(axis="x", color="#dddddd", linewidth=0.6)
            ax.set_axisbelow(True)
        axes[0].set_yticks([i * step + (step - 1.8) / 2 for i in range(len(cases))],
                           [plain(f"{c}\n{_metric_of(table, c)}") for c in cases])
        axes[0].set_ylim((len(cases) - 1) * step + step - 1, -0.8)
        fig.supxlabel(plain("overhead vs native in % (positive = slower); point: estimate; line: 95% CI"
                            + ("; grey band: the A/A noise floor" if floor else "")), fontsize=8)
        handles = _legend_handles([*hardware, *emulated], labels, colors)
        fig.legend(handles=handles, loc="outside upper center", ncols=min(len(handles), 4), frameon=False)
        return svg_data_uri(fig)


def _forest_point(ax: "Axes", y: float, row, color: str) -> None:
    point, low, high = row.overhead_pct, row.ci_low, row.ci_high
    if not math.isfinite(point):
        ax.annotate("not comparable", xy=(0, y), xytext=(3, 0), textcoords="offset points", va="center",
                    fontsize=6.5, color="#777777")
        return
    if math.isfinite(low) and math.isfinite(high):
        ax.hlines(y, low, high, color=color, linewidth=1.6)
    ax.plot([point], [y], marker="o", markersize=4.5, color=color, markeredgecolor="black", markeredgewidth=0.4)


def _metric_of(table: "pd.DataFrame", case: str) -> str:
    first = table[table["case"] == case].iloc[0]
    return f"{first['metric']} ({first['unit']})"


def _overhead_bar(ax: "Axes", y: float, row, color: str, emulated: bool) -> None:
    point, low, high = row.overhead_pct, row.ci_low, row.ci_high
    if not math.isfinite(point):
        ax.annotate("n/a", xy=(0, y), xytext=(3, 0), textcoords="offset points", va="center", fontsize=7)
        return
    ax.barh(y, point, height=0.8, color=color, edgecolor="white" if not emulated else "black",
            hatch="///" if emulated else None, linewidth=0.5)
    right = point
    if math.isfinite(low) and math.isfinite(high):
        ax.errorbar(point, y, xerr=[[max(point - low, 0)], [max(high - point, 0)]], fmt="none",
                    ecolor="black", elinewidth=0.8, capsize=2)
        right = max(point, high)
    ax.annotate(fmt_pct(point), xy=(max(right, 0), y), xytext=(3, 0), textcoords="offset points",
                va="center", fontsize=7)


def _overhead_scale(ax: "Axes", table: "pd.DataFrame") -> bool:
    """Linear when everything is within +-SYMLOG_BEYOND %, else symlog with labelled percent ticks."""
    import numpy as np
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    values = table[["overhead_pct", "ci_low", "ci_high"]].to_numpy(dtype=float).ravel()
    values = values[np.isfinite(values)]
    low, high = (min(values.min(), 0), max(values.max(), 0)) if values.size else (-1, 1)
    percent = FuncFormatter(lambda v, _: "0" if v == 0 else f"{v:+,g}%")
    if max(abs(low), abs(high)) <= SYMLOG_BEYOND:
        pad = 0.12 * (high - low or 1)
        ax.set_xlim(low - (pad if low < 0 else 0), high + pad)
        ax.xaxis.set_major_formatter(percent)
        return False
    ax.set_xscale("symlog", linthresh=LINTHRESH, linscale=1.0)
    ticks = [0, 5, 10, 30, 100, 300, 1000, 3000, 10000, 30000, 100000]
    ticks = sorted({s * t for t in ticks for s in (1, -1)})
    ax.set_xlim(low * 1.3 if low < -LINTHRESH else min(low - 2, -LINTHRESH / 2),
                high * 2.5 if high > LINTHRESH else LINTHRESH * 2)
    lo, hi = ax.get_xlim()
    ax.xaxis.set_major_locator(FixedLocator([t for t in ticks if lo <= t <= hi]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(percent)  # after set_xscale, which installs its own
    return True


def _legend_handles(envs: list[str], labels: dict[str, str], colors: dict[str, str]) -> list:
    from matplotlib.patches import Patch

    return [Patch(facecolor=colors[e], hatch="///" if labels[e].endswith(TCG_SUFFIX) else None,
                  edgecolor="black" if labels[e].endswith(TCG_SUFFIX) else colors[e], label=plain(labels[e]))
               for e in envs]


def distributions(measured: "pd.DataFrame", cases: list[str], envs: list[str], labels: dict[str, str],
                  colors: dict[str, str]) -> str | None:
    """Small multiples, one per case: every measured trial as a point (with a box), in % of the native median,
    and each environment's coefficient of variation under its column. None when there are no trials."""
    cases = [c for c in cases if c in set(measured["case"])]
    if not cases:
        return None
    widest = max(measured.groupby("case")["environment"].nunique())
    ncols = min(3 if widest <= 3 else 2, len(cases))
    nrows = math.ceil(len(cases) / ncols)
    width = 12.0 / ncols if ncols > 1 else 6.0
    with figure(width * ncols, 0.3 + 3.1 * nrows) as fig:
        axes = fig.subplots(nrows, ncols, squeeze=False)
        for ax, case in zip(axes.flat, cases):
            group = measured[measured["case"] == case]
            present = [e for e in envs if e in set(group["environment"])]
            _distribution_panel(ax, case, group, present, labels, colors, crowded=width / len(present) < 0.95)
        for ax in list(axes.flat)[len(cases):]:
            ax.set_visible(False)
        return svg_data_uri(fig)


def _distribution_panel(ax: "Axes", case: str, group: "pd.DataFrame", envs: list[str], labels: dict[str, str],
                        colors: dict[str, str], crowded: bool) -> None:
    import numpy as np

    base = group.loc[group["environment"] == BASELINE, "value"].to_numpy(dtype=float)
    reference = float(np.median(base if base.size else group["value"].to_numpy(dtype=float)))
    rng = np.random.default_rng(0)
    ticks = []
    for j, env in enumerate(envs):
        values = group.loc[group["environment"] == env, "value"].to_numpy(dtype=float)
        shown = values / reference * 100 if reference else values
        ax.boxplot(shown, positions=[j], widths=0.5, showfliers=False, medianprops={"color": "black"},
                   boxprops={"color": "#555555"}, whiskerprops={"color": "#555555"}, capprops={"color": "#555555"})
        ax.scatter(j + rng.uniform(-0.14, 0.14, size=shown.size), shown, s=14, color=colors[env], alpha=0.85,
                   zorder=3, edgecolors="none")
        ticks.append(plain(labels[env].replace(" (", "\n(") + f"\nCV {_cv(values)}"))
    ax.set_xticks(range(len(envs)), ticks, fontsize=6.5, rotation=30 if crowded else 0,
                  ha="right" if crowded else "center")
    ax.axhline(100 if reference else 0, color="grey", linestyle=":", linewidth=0.8)
    _distribution_scale(ax, group["value"].to_numpy(dtype=float) / (reference or 1))
    first = group.iloc[0]
    better = "higher" if first["higher_is_better"] else "lower"
    ax.set_title(plain(f"{case}\n{first['metric']} ({first['unit']}), {better} is better"), fontsize=8)
    ax.set_ylabel("% of native median" if base.size else "% of median", fontsize=7)
    ax.tick_params(axis="y", labelsize=7)


def _distribution_scale(ax: "Axes", ratios) -> None:
    """Logarithmic when the values span more than a factor of 5; ticks as plain percentages either way."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    positive = ratios[ratios > 0]
    if positive.size and positive.max() / positive.min() > 5:
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}%" if v >= 10 else f"{v:.2g}%"))


def _cv(values) -> str:
    """Coefficient of variation (sample standard deviation over mean) in percent."""
    import numpy as np

    if values.size < 2 or not np.mean(values):
        return "-"
    return f"{np.std(values, ddof=1) / abs(np.mean(values)) * 100:.1f}%"
