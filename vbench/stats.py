"""Overhead of an environment against the native baseline, with its uncertainty, from the paired design.

Overhead is how much more an environment costs than native, in percent, so that a positive number always means
slower: ``native/env - 1`` for a throughput metric (higher is better), ``env/native - 1`` for a time or latency
metric.

The rounds are interleaved so that whatever drifts on the host hits native and the environment of one round
alike; the analysis keeps that pairing. Each round with both trials gives one log ratio ``d`` (signed so that
positive is slower). The estimate is the Hodges-Lehmann center of the ``d`` (the median of their Walsh averages),
its 95% CI the Wilcoxon signed-rank interval, its p-value the signed-rank test: distribution-free, and robust to
the outlier trials real hosts produce. Both are turned back into percent (``exp(d) - 1``).

A CI needs at least ``MIN_PAIRS`` (6) pairs: with fewer, no signed-rank interval at 95% exists, and the row says
"too few rounds (n)". Where rounds lack a partner (a failed trial) and too few pairs remain, the two samples are
compared unpaired (the two-sample Hodges-Lehmann shift with the Mann-Whitney interval), and the method says so.
Differences that are all the same are "insufficient: zero variance", never a certainty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from vbench import rankstats, validity
from vbench.model import AA_CONTROL, BASELINE

if TYPE_CHECKING:
    import pandas as pd

MIN_PAIRS = 6
NO_DIFFERENCE = "no detectable difference"
ZERO_VARIANCE = "insufficient: zero variance"
PAIRED, UNPAIRED, NOT_COMPARABLE = "paired", "unpaired", validity.NOT_COMPARABLE

TABLE_COLUMNS = [
    "case", "metric", "unit", "higher_is_better", "environment",
    "baseline_median", "env_median", "overhead_pct", "ci_low", "ci_high",
    "p_value", "n_baseline", "n_env", "n_pairs", "method", "aa_floor_pct", "verdict",
]


def too_few(n: int) -> str:
    return f"too few rounds ({n})"


@dataclass(frozen=True)
class Overhead:
    """Overhead of one environment against the baseline for one metric, in percent.

    ``point`` is the Hodges-Lehmann estimate; ``low`` and ``high`` bound its confidence interval (nan when there
    is none, and then ``reason`` says why); ``p_value`` is the signed-rank (paired) or rank-sum (unpaired) test.
    """

    point: float
    low: float
    high: float
    confidence: float = 0.95
    n_native: int = 0
    n_env: int = 0
    p_value: float = math.nan
    n_pairs: int = 0
    method: str = PAIRED
    reason: str | None = None

    @property
    def half_width(self) -> float:
        """Half the width of the confidence interval, in percentage points (nan when there is none)."""
        return (self.high - self.low) / 2

    @property
    def detectable(self) -> bool:
        """True when the confidence interval is known and excludes 0."""
        if self.reason or not (math.isfinite(self.low) and math.isfinite(self.high)):
            return False
        return self.low > 0 or self.high < 0

    @property
    def label(self) -> str:
        """A verdict for a table: ``+12.3% (slower)``, ``-4.0% (faster)``, no difference, or why there is none."""
        if self.reason:
            return self.reason
        if math.isnan(self.low) or math.isnan(self.high):
            return too_few(self.n_pairs)
        if not self.detectable:
            return NO_DIFFERENCE
        # The direction is what the interval establishes; the number is the point estimate.
        direction = "slower" if self.low > 0 else "faster"
        digits = 2 if abs(self.point) < 1 else 1
        return f"{self.point:+.{digits}f}% ({direction})"


def log_cost(native: np.ndarray, env: np.ndarray, higher_is_better: bool) -> np.ndarray:
    """Element-wise log of how much more ``env`` costs than ``native`` (positive: slower); nan where an input
    is not a positive finite number."""
    native, env = np.asarray(native, dtype=float), np.asarray(env, dtype=float)
    valid = np.isfinite(native) & np.isfinite(env) & (native > 0) & (env > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log(np.where(valid, native, 1.0)) - np.log(np.where(valid, env, 1.0))
    return np.where(valid, ratio if higher_is_better else -ratio, np.nan)


def to_pct(log_ratio: float) -> float:
    """A log cost ratio as an overhead in percent."""
    return math.expm1(log_ratio) * 100.0 if math.isfinite(log_ratio) else math.nan


def overhead_pct(native: float, env: float, higher_is_better: bool) -> float:
    """Percent by which ``env`` costs more than ``native``; positive means slower; nan for zero or non-finite."""
    return to_pct(float(log_cost(np.float64(native), np.float64(env), higher_is_better)))


def _finite(values: Sequence[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    return arr[np.isfinite(arr)]


def median(values: Sequence[float]) -> float:
    """Median of the finite values; nan when there are none."""
    arr = _finite(values)
    return float(np.median(arr)) if arr.size else math.nan


def pairs(native: Mapping[int, float], env: Mapping[int, float]) -> tuple[np.ndarray, np.ndarray]:
    """The native and env values of the rounds both have (by round, in round order)."""
    common = sorted(set(native) & set(env))
    return (np.array([native[r] for r in common], dtype=float), np.array([env[r] for r in common], dtype=float))


def paired_overhead(native: Mapping[int, float], env: Mapping[int, float], higher_is_better: bool,
                    confidence: float = 0.95) -> Overhead:
    """The overhead of ``env`` against ``native``, each a mapping of round -> value: paired by round; unpaired
    only when too few rounds have both and each side alone has enough."""
    _check_confidence(confidence)
    x, y = pairs(native, env)
    d = log_cost(x, y, higher_is_better)
    d = d[np.isfinite(d)]
    n_native, n_env = len(_finite(list(native.values()))), len(_finite(list(env.values())))
    if d.size < MIN_PAIRS and min(n_native, n_env) >= MIN_PAIRS:
        return _unpaired(native, env, higher_is_better, confidence, d.size)
    return from_log_ratios(d, confidence, n_native, n_env)


def from_log_ratios(d: np.ndarray, confidence: float = 0.95, n_native: int | None = None,
                    n_env: int | None = None) -> Overhead:
    """The paired overhead from per-round log cost ratios ``d``."""
    n = int(d.size)
    sizes = dict(n_native=n if n_native is None else n_native, n_env=n if n_env is None else n_env, n_pairs=n)
    if n == 0:
        return Overhead(math.nan, math.nan, math.nan, confidence, p_value=math.nan, reason=too_few(0), **sizes)
    shift = rankstats.paired_shift(d, confidence)
    point = to_pct(shift.point)
    if n < MIN_PAIRS:
        return Overhead(point, math.nan, math.nan, confidence, p_value=shift.p_value, reason=too_few(n), **sizes)
    if np.ptp(d) == 0:
        return Overhead(point, math.nan, math.nan, confidence, reason=ZERO_VARIANCE, **sizes)
    return Overhead(point, to_pct(shift.low), to_pct(shift.high), confidence, p_value=shift.p_value, **sizes)


def _unpaired(native: Mapping[int, float], env: Mapping[int, float], higher_is_better: bool, confidence: float,
              n_pairs: int) -> Overhead:
    x, y = _finite(list(native.values())), _finite(list(env.values()))
    o = overhead(x, y, higher_is_better, confidence)
    lacking = len(set(native) ^ set(env))
    return Overhead(o.point, o.low, o.high, confidence, o.n_native, o.n_env, o.p_value, n_pairs,
                    f"{UNPAIRED} ({lacking} round(s) without a partner)", o.reason)


def overhead(native: Sequence[float], env: Sequence[float], higher_is_better: bool,
             confidence: float = 0.95) -> Overhead:
    """The overhead of two independent samples (no pairing): the two-sample Hodges-Lehmann shift of the log
    values with the Mann-Whitney interval and test. Each side needs ``MIN_PAIRS`` values for a CI."""
    _check_confidence(confidence)
    x, y = _finite(native), _finite(env)
    x, y = x[x > 0], y[y > 0]
    sign = -1.0 if higher_is_better else 1.0
    shift = rankstats.two_sample_shift(np.log(x), np.log(y), confidence)
    point = to_pct(sign * shift.point)
    low, high = sorted((to_pct(sign * shift.low), to_pct(sign * shift.high)))
    n = min(x.size, y.size)
    base = dict(confidence=confidence, n_native=int(x.size), n_env=int(y.size), n_pairs=0, method=UNPAIRED)
    if n < MIN_PAIRS:
        return Overhead(point, math.nan, math.nan, p_value=shift.p_value, reason=too_few(n), **base)
    if np.ptp(np.concatenate([x, y])) == 0 or (np.ptp(x) == 0 and np.ptp(y) == 0):
        return Overhead(point, math.nan, math.nan, reason=ZERO_VARIANCE, **base)
    return Overhead(point, low, high, p_value=shift.p_value, **base)


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")


def ci_narrow_enough(o: Overhead, target_pct: float) -> bool:
    """True when the CI half-width is at most ``target_pct`` points (False when unknown)."""
    width = o.half_width
    return math.isfinite(width) and width <= target_pct


def by_round(frame: "pd.DataFrame") -> dict[int, float]:
    """round -> value of a (case, environment, metric) group of measured trials."""
    return dict(zip(frame["round"].astype(int), frame["value"].astype(float)))


def operations(frame: "pd.DataFrame") -> set[str]:
    """The operations (vbench.validity.operation) a group of trials ran; empty for a table without them."""
    return set(frame["operation"].fillna("").astype(str)) if "operation" in frame else set()


def sides_overhead(base: "pd.DataFrame", env: "pd.DataFrame", higher_is_better: bool,
                   confidence: float = 0.95) -> Overhead:
    """The paired overhead of ``env`` trials against ``base`` trials, or none ("not comparable: <why>") when the
    two sides did not run the same operation (another I/O engine, queue depth or end-to-end mode)."""
    why = validity.mismatch(operations(base), operations(env))
    if why:
        return Overhead(math.nan, math.nan, math.nan, confidence, n_native=len(base), n_env=len(env),
                        method=NOT_COMPARABLE, reason=why)
    return paired_overhead(by_round(base), by_round(env), higher_is_better, confidence)


def _table_row(case: str, metric: str, environment: str, base: "pd.DataFrame", env: "pd.DataFrame",
               confidence: float) -> dict:
    """One row of the overhead table: ``env`` trials against the ``base`` trials, paired by round."""
    first = base.iloc[0] if len(base) else env.iloc[0]
    higher_is_better = bool(first["higher_is_better"])
    o = sides_overhead(base, env, higher_is_better, confidence)
    return {
        "case": case, "metric": metric, "unit": first["unit"],
        "higher_is_better": higher_is_better, "environment": environment,
        "baseline_median": median(base["value"]), "env_median": median(env["value"]),
        "overhead_pct": o.point, "ci_low": o.low, "ci_high": o.high, "p_value": o.p_value,
        "n_baseline": o.n_native, "n_env": o.n_env, "n_pairs": o.n_pairs, "method": o.method,
        "aa_floor_pct": math.nan, "verdict": o.label,
    }


def pairs_text(row) -> str:
    """How many pairs decided a table row; for an unpaired comparison the trials on each side; for a row that is
    not comparable, the trials on each side and no pairs."""
    if row.method == PAIRED:
        return str(row.n_pairs)
    return f"{row.n_baseline}/{row.n_env} {'trials' if row.method == NOT_COMPARABLE else UNPAIRED}"


def aa_floor(row: dict) -> float:
    """The A/A control's noise floor from its row: the largest overhead its CI allows (nan without a CI)."""
    low, high = row["ci_low"], row["ci_high"]
    return max(abs(low), abs(high)) if math.isfinite(low) and math.isfinite(high) else math.nan


def _against_floor(row: dict, floor: float) -> dict:
    """``row`` with the A/A floor of its case, and its verdict saying so when a detected effect is inside it."""
    row = {**row, "aa_floor_pct": floor}
    detected = row["verdict"].endswith(("(slower)", "(faster)"))
    if detected and math.isfinite(floor) and abs(row["overhead_pct"]) <= floor:
        row["verdict"] = f"{row['verdict'][:-1]}; within the A/A floor +-{floor:.1f}%)"
    return row


def measured(frame: "pd.DataFrame") -> "pd.DataFrame":
    """The rows of measured trials: not warmup, status "ok" (the one selector of every analysis; callers narrow
    it further, e.g. to primary metrics)."""
    return frame[~frame["warmup"].astype(bool) & (frame["status"] == "ok")]


def overhead_table(df: "pd.DataFrame", baseline: str = BASELINE, confidence: float = 0.95,
                   control: str = AA_CONTROL) -> "pd.DataFrame":
    """Overhead of every environment against ``baseline``, per (case, metric), paired by round; where the run
    measured the A/A ``control``, every row of the case carries its floor (``aa_floor_pct``).

    ``df`` is the tidy trials table (case, environment, metric, value, unit, higher_is_better, round, warmup,
    status); only non-warmup rows with status "ok" count. Returns one row per (case, metric, non-baseline
    environment) with the columns in ``TABLE_COLUMNS``, sorted by case, metric and environment. A case+metric
    without baseline trials still gets rows, with nan overheads.
    """
    import pandas as pd

    used = measured(df)
    rows = []
    for (case, metric), group in used.groupby(["case", "metric"], sort=True):
        base = group[group["environment"] == baseline]
        others = group[group["environment"] != baseline]
        case_rows = [_table_row(case, metric, environment, base, env, confidence)
                     for environment, env in others.groupby("environment", sort=True)]
        floor = next((aa_floor(r) for r in case_rows if r["environment"] == control), math.nan)
        rows += [_against_floor(r, floor) if r["environment"] != control else {**r, "aa_floor_pct": floor}
                 for r in case_rows]
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return table.sort_values(["case", "metric", "environment"], ignore_index=True)


def exceeds_p(native: Mapping[int, float], env: Mapping[int, float], higher_is_better: bool, limit_pct: float,
              alternative: str) -> float:
    """The one-sided p-value that the overhead is above (``alternative="greater"``) or below (``"less"``)
    ``limit_pct``: the signed-rank test of the paired log ratios shifted by the limit (the rank-sum test where
    too few rounds have both sides, as in ``paired_overhead``); nan when there is no test to make."""
    from scipy import stats as sps

    shift = math.log1p(limit_pct / 100.0)
    x, y = pairs(native, env)
    d = log_cost(x, y, higher_is_better)
    d = d[np.isfinite(d)]
    x_all, y_all = _finite(list(native.values())), _finite(list(env.values()))
    if d.size >= MIN_PAIRS or min(x_all.size, y_all.size) < MIN_PAIRS:
        return rankstats.signed_rank_p(d - shift, alternative) if d.size >= MIN_PAIRS else math.nan
    x_all, y_all = np.log(x_all[x_all > 0]), np.log(y_all[y_all > 0])
    cost_x, cost_y = (-x_all, -y_all) if higher_is_better else (x_all, y_all)
    return float(sps.mannwhitneyu(cost_y - shift, cost_x, alternative=alternative).pvalue)
