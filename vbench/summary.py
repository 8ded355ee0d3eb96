"""The overhead table as data: ``overheads.csv`` in the run directory, and ``vbench summary RUN --format ...``.

One row per case, environment and metric (the primary metric of each case marked): the point estimate, the 95% CI,
the number of pairs, the method (and what widened the interval), the lag-1 autocorrelation of the per-round ratios,
the A/A offsets that widened it, the A/A floor and the verdict or the reason there is none. The console table and
the report are views of this table; tools and notebooks read the file.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING

from vbench import fmt
from vbench.diskspace import write_atomic

if TYPE_CHECKING:
    import pandas as pd

FILE = "overheads.csv"
FORMATS = ("table", "csv", "json")


def overheads(frame: "pd.DataFrame") -> "pd.DataFrame":
    """The overhead table of a run's tidy trials (``vbench.load``), every metric, with a ``primary`` column."""
    import pandas as pd

    from vbench import stats

    measured = frame[frame["metric"].notna()]
    if measured.empty:
        return pd.DataFrame(columns=[*stats.TABLE_COLUMNS, "primary"])
    table = stats.overhead_table(measured)
    primary = set(map(tuple, measured.loc[measured["primary"].astype(bool), ["case", "metric"]].drop_duplicates()
                      .itertuples(index=False, name=None)))
    table["primary"] = [(c, m) in primary for c, m in zip(table["case"], table["metric"])]
    return table


def write_overheads(run_dir: Path, frame: "pd.DataFrame") -> "pd.DataFrame":
    """Compute the table and write it beside the trials; the table."""
    table = overheads(frame)
    write_atomic(Path(run_dir) / FILE, table.to_csv(index=False, float_format="%.6g"))
    return table


def records(table: "pd.DataFrame") -> list[dict]:
    """The table as JSON-ready dicts (nan as null)."""
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
            for row in table.to_dict(orient="records")]


def as_json(table: "pd.DataFrame") -> str:
    return json.dumps(records(table), indent=1, default=str)


def cost_text(rows) -> str:
    """One environment's overheads over its cases in a phrase: the median, the range, how many were decided."""
    decided = rows.dropna(subset=["overhead_pct"])
    apart = len(rows) - len(decided)
    if decided.empty:
        return f"no case compared ({apart} not comparable)"
    slower = int((decided["ci_low"] > 0).sum())
    faster = int((decided["ci_high"] < 0).sum())
    no_interval = int((decided["ci_low"].isna() | decided["ci_high"].isna()).sum())
    same = len(decided) - slower - faster - no_interval
    text = (f"median {fmt.signed_pct(decided['overhead_pct'].median())} over {fmt.plural(len(decided), 'case')}, from "
            f"{fmt.signed_pct(decided['overhead_pct'].min())} to {fmt.signed_pct(decided['overhead_pct'].max())}; "
            f"{slower} slower, {faster} faster, {same} with no detectable difference")
    return (text + (f", {no_interval} without an interval (too few pairs)" if no_interval else "")
            + (f"; {apart} not comparable" if apart else ""))


def aa_floor_line(table) -> str | None:
    """What the A/A control (native:aa against native) says about this run's noise, in one line."""
    from vbench.model import AA_CONTROL

    control = table[table["environment"] == AA_CONTROL]
    floors = control["aa_floor_pct"].dropna()
    if control.empty:
        return None
    if floors.empty:
        return f"A/A noise floor ({AA_CONTROL} vs native): unknown ({control['verdict'].iloc[0]})"
    line = (f"A/A noise floor ({AA_CONTROL} vs native, the largest factor either way its 95% CI allows): median "
            f"{floors.median():.1f}%, from {floors.min():.1f}% to {floors.max():.1f}% over "
            f"{fmt.plural(len(floors), 'case')}")
    offsets = table.loc[table["environment"] != AA_CONTROL, "aa_offset_pct"].dropna() if "aa_offset_pct" in table \
        else table.iloc[0:0]
    if len(offsets) and offsets.max() > 0:
        line += (f"; its cases differ by more than their noise explains (offsets of about {offsets.max():.1f}%), "
                 "so every other interval is widened by that")
    return line
