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
