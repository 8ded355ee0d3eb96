"""Overhead of an environment against the native baseline, with its uncertainty.

Overhead is how much more an environment costs than native, in percent, so that a
positive number always means slower: ``native/env - 1`` for a throughput metric
(higher is better), ``env/native - 1`` for a time or latency metric. The point
estimate comes from the medians of the trials; its 95% confidence interval from a
percentile bootstrap over trials, the two samples resampled independently; the
Mann-Whitney U test answers "is there a difference at all". A CI containing 0 reads
"no detectable difference".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
from scipy import stats as sps

if TYPE_CHECKING:
    import pandas as pd

NO_DIFFERENCE = "no detectable difference"
TOO_FEW = "too few trials for a CI"

TABLE_COLUMNS = [
    "case", "metric", "unit", "higher_is_better", "environment",
    "baseline_median", "env_median", "overhead_pct", "ci_low", "ci_high",
    "p_value", "n_baseline", "n_env", "verdict",
]


@dataclass(frozen=True)
class Overhead:
    """Overhead of one environment against the baseline for one metric, in percent.

    ``point`` comes from the medians; ``low`` and ``high`` bound its confidence
    interval (nan when it cannot be computed); ``p_value`` is the two-sided
    Mann-Whitney U test of the raw trials (nan when not computable).
    """

    point: float
    low: float
    high: float
    confidence: float = 0.95
    n_native: int = 0
    n_env: int = 0
    p_value: float = math.nan

    @property
    def half_width(self) -> float:
        """Half the width of the confidence interval, in percentage points."""
        return (self.high - self.low) / 2

    @property
    def detectable(self) -> bool:
        """True when the confidence interval is known and excludes 0."""
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            return False
        return self.low > 0 or self.high < 0

    @property
    def label(self) -> str:
        """A verdict for a table: ``+12.3% (slower)``, ``-4.0% (faster)``, no difference, or too few trials."""
        if math.isnan(self.low) or math.isnan(self.high):
            return TOO_FEW
        if not self.detectable:
            return NO_DIFFERENCE
        # The direction is what the interval establishes; the number is the point estimate.
        direction = "slower" if self.low > 0 else "faster"
        digits = 2 if abs(self.point) < 1 else 1
        return f"{self.point:+.{digits}f}% ({direction})"


def _overhead_pct_array(native: np.ndarray, env: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Element-wise overhead in percent; nan wherever an input is zero or not finite."""
    native = np.asarray(native, dtype=float)
    env = np.asarray(env, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = native / env if higher_is_better else env / native
        pct = (ratio - 1.0) * 100.0
    valid = np.isfinite(native) & np.isfinite(env) & (native != 0) & (env != 0)
    return np.where(valid, pct, np.nan)


def overhead_pct(native: float, env: float, higher_is_better: bool) -> float:
    """Percent by which ``env`` costs more than ``native``; positive means slower.

    Throughput (``higher_is_better``): ``(native/env - 1) * 100``; time or latency:
    ``(env/native - 1) * 100``. Zero or non-finite inputs give nan.
    """
    return float(_overhead_pct_array(np.float64(native), np.float64(env), higher_is_better))


def _finite(values: Sequence[float]) -> np.ndarray:
    """The values as a float array with NaNs (and infinities) dropped."""
    arr = np.asarray(values, dtype=float).ravel()
    return arr[np.isfinite(arr)]


def median(values: Sequence[float]) -> float:
    """Median of the finite values; nan when there are none."""
    arr = _finite(values)
    return float(np.median(arr)) if arr.size else math.nan


def mann_whitney(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value of ``a`` against ``b``.

    NaNs are dropped; nan when either sample has fewer than 2 values or every value
    in both samples is the same (the test is undefined there).
    """
    x, y = _finite(a), _finite(b)
    if x.size < 2 or y.size < 2:
        return math.nan
    if np.all(np.concatenate([x, y]) == x[0]):
        return math.nan
    return float(sps.mannwhitneyu(x, y, alternative="two-sided").pvalue)


def bootstrap_medians(values: np.ndarray, n_resamples: int, rng: np.random.Generator) -> np.ndarray:
    """Medians of ``n_resamples`` bootstrap resamples of ``values``, drawn exactly without resampling.

    The k-th order statistic of n draws from the empirical distribution is ``x[floor(n * U)]`` with
    ``U ~ Beta(k, n - k + 1)`` (the k-th order statistic of n uniforms); for even n the next one is
    ``U + (1 - U) * Beta(1, n - k)``. This costs O(n log n + B) instead of O(n * B), which is what makes the
    overhead table of a million trials take seconds, and gives the same distribution as resampling.
    """
    x = np.sort(values)
    n = x.size
    k = (n + 1) // 2
    u = rng.beta(k, n - k + 1, n_resamples)
    low = x[np.minimum((u * n).astype(np.intp), n - 1)]
    if n % 2:
        return low
    upper = u + (1.0 - u) * rng.beta(1, n - k, n_resamples)
    return (low + x[np.minimum((upper * n).astype(np.intp), n - 1)]) / 2.0


def _bootstrap_ci(
    native: np.ndarray,
    env: np.ndarray,
    higher_is_better: bool,
    confidence: float,
    n_resamples: int,
    seed: int,
) -> tuple[float, float]:
    """Percentile bootstrap CI of the median overhead, the two samples resampled independently; nan bounds
    when a resampled overhead is undefined (a median of 0)."""
    rng = np.random.default_rng(seed)
    with np.errstate(all="ignore"):
        pct = _overhead_pct_array(bootstrap_medians(native, n_resamples, rng),
                                  bootstrap_medians(env, n_resamples, rng), higher_is_better)
    if not np.all(np.isfinite(pct)):
        return math.nan, math.nan
    tail = (1.0 - confidence) / 2.0 * 100.0
    low, high = np.percentile(pct, [tail, 100.0 - tail])
    return float(low), float(high)


def overhead(
    native: Sequence[float],
    env: Sequence[float],
    higher_is_better: bool,
    confidence: float = 0.95,
    n_resamples: int = 2000,
    seed: int = 0,
) -> Overhead:
    """Overhead of ``env`` against ``native`` trials, with a bootstrap CI and a p-value.

    NaNs are dropped first. The CI is nan when either sample has fewer than 2 values,
    and collapses to the point when each sample is constant (no resample can differ).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    x, y = _finite(native), _finite(env)
    point = overhead_pct(median(x), median(y), higher_is_better)
    if x.size < 2 or y.size < 2 or not math.isfinite(point):
        low = high = math.nan
    elif np.ptp(x) == 0 and np.ptp(y) == 0:
        low = high = point
    else:
        low, high = _bootstrap_ci(x, y, higher_is_better, confidence, n_resamples, seed)
    return Overhead(
        point=point,
        low=low,
        high=high,
        confidence=confidence,
        n_native=int(x.size),
        n_env=int(y.size),
        p_value=mann_whitney(x, y),
    )


def ci_narrow_enough(o: Overhead, target_pct: float) -> bool:
    """True when the CI half-width is at most ``target_pct`` points (False when unknown)."""
    width = o.half_width
    return math.isfinite(width) and width <= target_pct


def _table_row(
    case: str, metric: str, environment: str, base: "pd.DataFrame", env: "pd.DataFrame",
    confidence: float, seed: int, n_resamples: int,
) -> dict:
    """One row of the overhead table: ``env`` trials against the ``base`` trials."""
    first = base.iloc[0] if len(base) else env.iloc[0]
    higher_is_better = bool(first["higher_is_better"])
    o = overhead(base["value"], env["value"], higher_is_better,
                 confidence=confidence, n_resamples=n_resamples, seed=seed)
    return {
        "case": case, "metric": metric, "unit": first["unit"],
        "higher_is_better": higher_is_better, "environment": environment,
        "baseline_median": median(base["value"]), "env_median": median(env["value"]),
        "overhead_pct": o.point, "ci_low": o.low, "ci_high": o.high, "p_value": o.p_value,
        "n_baseline": o.n_native, "n_env": o.n_env, "verdict": o.label,
    }


def overhead_table(
    df: "pd.DataFrame",
    baseline: str = "native",
    confidence: float = 0.95,
    seed: int = 0,
    n_resamples: int = 2000,
) -> "pd.DataFrame":
    """Overhead of every environment against ``baseline``, per (case, metric).

    ``df`` is the tidy trials table (case, environment, metric, value, unit,
    higher_is_better, warmup, status); only non-warmup rows with status "ok" count.
    Returns one row per (case, metric, non-baseline environment) with the columns in
    ``TABLE_COLUMNS``, sorted by case, metric and environment. A case+metric without
    baseline trials still gets rows, with nan overheads.
    """
    import pandas as pd

    used = df[~df["warmup"].astype(bool) & (df["status"] == "ok")]
    rows = []
    for (case, metric), group in used.groupby(["case", "metric"], sort=True):
        base = group[group["environment"] == baseline]
        others = group[group["environment"] != baseline]
        for environment, env in others.groupby("environment", sort=True):
            rows.append(_table_row(case, metric, environment, base, env,
                                   confidence, seed, n_resamples))
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return table.sort_values(["case", "metric", "environment"], ignore_index=True)
