"""Overhead of an environment against the native baseline, with its uncertainty, from the paired design.

Overhead is how much more an environment costs than native, in percent, so that a positive number always means
slower: ``native/env - 1`` for a throughput metric (higher is better), ``env/native - 1`` for a time or latency
metric.

The rounds are interleaved so that whatever drifts on the host hits native and the environment of one round
alike; the analysis keeps that pairing. Each round with both trials gives one log ratio ``d`` (signed so that
positive is slower). The estimate is the Hodges-Lehmann center of the ``d`` (the median of their Walsh averages),
its 95% CI the Wilcoxon signed-rank interval, its p-value the signed-rank test: distribution-free, and not moved by
a rare outlier pair. The estimate is the *typical* per-round ratio, not the mean cost: a tail of slow trials that
only one side has (an environment that now and then stalls) shows in the distributions, not in the overhead.
Both are turned back into percent (``exp(d) - 1``).

Two assumptions of that interval are checked, not assumed, and the interval is widened where they fail (the
method column says by what):

- **Independent rounds.** The lag-1 autocorrelation of a row's per-round ratios is reported (``lag1_autocorr``);
  where its corrected estimate is above ``LAG1_THRESHOLD`` the half-widths grow by the effective sample size
  (``lag1_inflation``).
- **No offset between identical environments.** Two identical native environments can differ by a steady few
  percent for the whole run (a file's placement on the disk), which no pairing removes. The A/A control measures
  it: where its cases' centers spread more than their own within-run noise explains, that extra variance
  (``aa_offsets``) is added to every environment's interval. The A/A rows themselves stay as measured, a
  diagnostic; their floor (``aa_floor``) is judged on the log scale.

A CI needs at least ``MIN_PAIRS`` (6) pairs: with fewer, no signed-rank interval at 95% exists, and the row says
"too few rounds (n)". Where rounds lack a partner (a failed trial) and too few pairs remain, the two samples are
compared unpaired (the two-sample Hodges-Lehmann shift with the Mann-Whitney interval), and the method says so.
Differences that are all the same are "insufficient: zero variance", never a certainty.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import TYPE_CHECKING, Any, Iterable, Mapping

import numpy as np
from numpy.typing import ArrayLike

from vbench import fmt, rankstats, validity
from vbench.model import AA_CONTROL, BASELINE

if TYPE_CHECKING:
    import pandas as pd

MIN_PAIRS = 6
NO_DIFFERENCE = "no detectable difference"
ZERO_VARIANCE = "insufficient: zero variance"
PAIRED, UNPAIRED, NOT_COMPARABLE = "paired", "unpaired", validity.NOT_COMPARABLE
WIDENED = "widened"
# The lag-1 rule, chosen by simulation (tests/test_statistics_sim.py; a search over margins, thresholds and caps):
# the estimate is bias-corrected for short series and given a margin for its own noise (LAG1_MARGIN / sqrt(n)), so
# that a true lag-1 correlation of 0.3 still leaves the interval covering at least 93.5% at 8-40 pairs (86% without
# it); with no correlation it widens about half the rows and costs about a fifth of the power at 3 standard errors.
LAG1_THRESHOLD = 0.1
LAG1_MARGIN = 0.5
LAG1_CAP = 0.9
HL_VARIANCE = math.pi / 3  # a Hodges-Lehmann center's variance over the mean's, for normal noise (1 / 0.955)
# The standard normal's cdf and quantile, from the standard library: the run decides its rounds with these, and
# scipy's special functions would add about 10 MiB to its memory at the first interval.
NORMAL = NormalDist()

TABLE_COLUMNS = [
    "case", "metric", "unit", "higher_is_better", "environment",
    "baseline_median", "env_median", "overhead_pct", "ci_low", "ci_high",
    "p_value", "n_baseline", "n_env", "n_pairs", "method", "lag1_autocorr", "aa_offset_pct", "aa_floor_pct",
    "verdict",
]


def too_few(n: int) -> str:
    return f"too few rounds ({n})"


@dataclass(frozen=True)
class Overhead:
    """Overhead of one environment against the baseline for one metric, in percent.

    ``point`` is the Hodges-Lehmann estimate; ``low`` and ``high`` bound its confidence interval (nan when there
    is none, and then ``reason`` says why); ``p_value`` is the signed-rank (paired) or rank-sum (unpaired) test,
    or its normal approximation on the widened interval. ``lag1`` is the lag-1 autocorrelation of the per-round
    ratios (nan when unpaired or too short); ``widening`` says what widened the interval ("" when nothing did).
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
    lag1: float = math.nan
    widening: str = ""

    @property
    def half_width(self) -> float:
        """Half the width of the confidence interval, in percentage points (nan when there is none)."""
        return (self.high - self.low) / 2

    @property
    def method_text(self) -> str:
        """The method and, when the interval was widened, by what: the table's method column."""
        return f"{self.method}, {WIDENED} for {self.widening}" if self.widening else self.method

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


@dataclass(frozen=True)
class Offsets:
    """The variance between identical environments that their within-run noise does not explain, from the A/A
    control's cases (log scale): ``var`` is what every interval is widened by (0 when the A/A control shows
    none), ``cases`` how many A/A cases it was estimated from."""

    var: float = 0.0
    cases: int = 0

    @property
    def sd_pct(self) -> float:
        """The offsets' standard deviation as a percent (0 when none, nan when no A/A case was measured)."""
        return to_pct(math.sqrt(self.var)) if self.cases else math.nan


NO_OFFSETS = Offsets()


def log_cost(native: ArrayLike, env: ArrayLike, higher_is_better: bool) -> np.ndarray:
    """Element-wise log of how much more ``env`` costs than ``native`` (positive: slower); nan where an input
    is not a positive finite number."""
    native, env = np.asarray(native, dtype=float), np.asarray(env, dtype=float)
    valid = np.isfinite(native) & np.isfinite(env) & (native > 0) & (env > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.log(np.where(valid, native, 1.0)) - np.log(np.where(valid, env, 1.0))
    out: np.ndarray = np.where(valid, ratio if higher_is_better else -ratio, np.nan)
    return out


def to_pct(log_ratio: float) -> float:
    """A log cost ratio as an overhead in percent."""
    return math.expm1(log_ratio) * 100.0 if math.isfinite(log_ratio) else math.nan


def to_log(pct: float) -> float:
    """An overhead in percent as a log cost ratio (nan at or below -100%)."""
    return math.log1p(pct / 100.0) if math.isfinite(pct) and pct > -100.0 else math.nan


def overhead_pct(native: float, env: float, higher_is_better: bool) -> float:
    """Percent by which ``env`` costs more than ``native``; positive means slower; nan for zero or non-finite."""
    return to_pct(float(log_cost(np.float64(native), np.float64(env), higher_is_better)))


def _finite(values: ArrayLike) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    out: np.ndarray = arr[np.isfinite(arr)]
    return out


def median(values: ArrayLike) -> float:
    """Median of the finite values; nan when there are none."""
    arr = _finite(values)
    return float(np.median(arr)) if arr.size else math.nan


def pairs(native: Mapping[int, float], env: Mapping[int, float]) -> tuple[np.ndarray, np.ndarray]:
    """The native and env values of the rounds both have (by round, in round order)."""
    common = sorted(set(native) & set(env))
    return (np.array([native[r] for r in common], dtype=float), np.array([env[r] for r in common], dtype=float))


def lag1_autocorr(d: ArrayLike) -> float:
    """The lag-1 autocorrelation of ``d`` in the order given (round order); nan for fewer than 3 values or none
    that differ."""
    x = np.asarray(d, dtype=float)
    if x.size < 3:
        return math.nan
    centered = x - x.mean()
    denominator = float(centered @ centered)
    if denominator == 0:
        return math.nan
    return float(centered[:-1] @ centered[1:]) / denominator


def lag1_inflation(d: ArrayLike) -> tuple[float, float]:
    """(the lag-1 correlation the rule assumes, the factor a half-width must grow by for it); (nan, 1.0) when
    there is nothing to correct.

    The sample estimate is bias-corrected for a short series (``r + (1 + 4r) / n``) and given a margin for its
    own noise (``LAG1_MARGIN / sqrt(n)``), capped at ``LAG1_CAP``; above ``LAG1_THRESHOLD`` the interval is
    widened as for ``n * (1 - r) / (1 + r)`` independent rounds, by ``sqrt((1 + r) / (1 - r))``."""
    n = np.asarray(d).size
    r = lag1_autocorr(d)
    if not math.isfinite(r):
        return math.nan, 1.0
    r = min(r + (1 + 4 * r) / n + LAG1_MARGIN / math.sqrt(n), LAG1_CAP)
    if r <= LAG1_THRESHOLD:
        return r, 1.0
    return r, math.sqrt((1 + r) / (1 - r))


def paired_overhead(native: Mapping[int, float], env: Mapping[int, float], higher_is_better: bool,
                    confidence: float = 0.95, offsets: Offsets = NO_OFFSETS) -> Overhead:
    """The overhead of ``env`` against ``native``, each a mapping of round -> value: paired by round; unpaired
    only when too few rounds have both and each side alone has enough. ``offsets`` widens the interval."""
    _check_confidence(confidence)
    x, y = pairs(native, env)
    d = log_cost(x, y, higher_is_better)
    d = d[np.isfinite(d)]
    n_native, n_env = len(_finite(list(native.values()))), len(_finite(list(env.values())))
    if d.size < MIN_PAIRS and min(n_native, n_env) >= MIN_PAIRS:
        return _unpaired(native, env, higher_is_better, confidence, d.size, offsets)
    return from_log_ratios(d, confidence, n_native, n_env, offsets)


def from_log_ratios(d: np.ndarray, confidence: float = 0.95, n_native: int | None = None,
                    n_env: int | None = None, offsets: Offsets = NO_OFFSETS) -> Overhead:
    """The paired overhead from per-round log cost ratios ``d`` (in round order), its interval widened for their
    lag-1 autocorrelation and by ``offsets``."""
    n = int(d.size)
    sizes: dict[str, Any] = dict(n_native=n if n_native is None else n_native,
                                n_env=n if n_env is None else n_env, n_pairs=n)
    if n == 0:
        return Overhead(math.nan, math.nan, math.nan, confidence, p_value=math.nan, reason=too_few(0), **sizes)
    shift = rankstats.paired_shift(d, confidence)
    point = to_pct(shift.point)
    lag1 = lag1_autocorr(d)
    if n < MIN_PAIRS:
        return Overhead(point, math.nan, math.nan, confidence, p_value=shift.p_value, reason=too_few(n),
                        lag1=lag1, **sizes)
    if np.ptp(d) == 0:
        return Overhead(point, math.nan, math.nan, confidence, reason=ZERO_VARIANCE, lag1=lag1, **sizes)
    raw = Overhead(point, to_pct(shift.low), to_pct(shift.high), confidence, p_value=shift.p_value, lag1=lag1,
                   **sizes)
    assumed, factor = lag1_inflation(d)
    serial = f"serial correlation (x{factor:.2f}: lag-1 {assumed:.2f} assumed)" if factor > 1.0 else ""
    return widen(raw, factor, offsets, serial)


def widen(o: Overhead, factor: float = 1.0, offsets: Offsets = NO_OFFSETS, serial: str = "") -> Overhead:
    """``o`` with its interval's half-widths (log scale) multiplied by ``factor`` (``serial`` says why) and then
    grown in quadrature by the offsets' variance; the p-value then from the normal approximation on that
    interval."""
    if factor <= 1.0 and offsets.var <= 0:
        return o
    z = float(NORMAL.inv_cdf(1 - (1 - o.confidence) / 2))
    center, low, high = to_log(o.point), to_log(o.low), to_log(o.high)
    below = math.hypot((center - low) * factor, z * math.sqrt(offsets.var))
    above = math.hypot((high - center) * factor, z * math.sqrt(offsets.var))
    se = (below + above) / (2 * z)
    p = float(2 * NORMAL.cdf(-abs(center) / se)) if se > 0 else o.p_value
    why = [serial] if factor > 1.0 else []
    if offsets.var > 0:
        why.append(f"A/A offsets of {offsets.sd_pct:.1f}%")
    return replace(o, low=to_pct(center - below), high=to_pct(center + above), p_value=p, widening=" and ".join(why))


def _unpaired(native: Mapping[int, float], env: Mapping[int, float], higher_is_better: bool, confidence: float,
              n_pairs: int, offsets: Offsets = NO_OFFSETS) -> Overhead:
    x, y = _finite(list(native.values())), _finite(list(env.values()))
    o = overhead(x, y, higher_is_better, confidence)
    lacking = len(set(native) ^ set(env))
    o = replace(o, n_pairs=n_pairs, method=f"{UNPAIRED} ({fmt.plural(lacking, 'round')} without a partner)")
    return widen(o, 1.0, offsets) if not o.reason else o


def overhead(native: ArrayLike, env: ArrayLike, higher_is_better: bool,
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
    base: dict[str, Any] = dict(confidence=confidence, n_native=int(x.size), n_env=int(y.size), n_pairs=0,
                                method=UNPAIRED)
    if n < MIN_PAIRS:
        return Overhead(point, math.nan, math.nan, p_value=shift.p_value, reason=too_few(n), **base)
    if np.ptp(np.concatenate([x, y])) == 0 or (np.ptp(x) == 0 and np.ptp(y) == 0):
        return Overhead(point, math.nan, math.nan, reason=ZERO_VARIANCE, **base)
    return Overhead(point, low, high, p_value=shift.p_value, **base)


def _check_confidence(confidence: float) -> None:
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")


def aa_offsets(controls: Iterable[np.ndarray]) -> Offsets:
    """The between-environment variance the A/A control shows beyond its within-run noise, from the per-round log
    ratios of each of its cases (native:aa against native).

    Two identical environments have a true difference of 0, so each case's center (its Hodges-Lehmann estimate)
    should scatter about 0 by its standard error alone; the moment estimator with a known center of 0
    (DerSimonian-Laird) gives the variance beyond that: ``max(0, (Q - k) / sum(w))``, ``Q = sum(w * center**2)``,
    ``w = 1 / se**2``, ``se**2`` the center's variance from the case's own spread. Cases with fewer than
    ``MIN_PAIRS`` ratios or none that differ are left out."""
    centers, weights = [], []
    for d in controls:
        d = np.asarray(d, dtype=float)
        d = d[np.isfinite(d)]
        if d.size < MIN_PAIRS or np.ptp(d) == 0:
            continue
        centers.append(rankstats.paired_shift(d).point)
        # 1/se**2 from the case's own spread, made unbiased ((n - 3) / (n - 1)): 1/s**2 overestimates 1/sigma**2
        weights.append((d.size - 3) / (d.size - 1) * d.size / (HL_VARIANCE * float(np.var(d, ddof=1))))
    if not centers:
        return NO_OFFSETS
    w, c = np.array(weights), np.array(centers)
    q = float(np.sum(w * c ** 2))
    return Offsets(max(0.0, (q - len(c)) / float(np.sum(w))), len(c))


def by_round(frame: "pd.DataFrame") -> dict[int, float]:
    """round -> value of a (case, environment, metric) group of measured trials."""
    return dict(zip(frame["round"].astype(int), frame["value"].astype(float)))


def operations(frame: "pd.DataFrame") -> set[str]:
    """The operations (vbench.validity.operation) a group of trials ran; empty for a table without them."""
    return set(frame["operation"].fillna("").astype(str)) if "operation" in frame else set()


def sides_overhead(base: "pd.DataFrame", env: "pd.DataFrame", higher_is_better: bool,
                   confidence: float = 0.95, offsets: Offsets = NO_OFFSETS) -> Overhead:
    """The paired overhead of ``env`` trials against ``base`` trials, or none ("not comparable: <why>") when the
    two sides did not run the same operation (another I/O engine, queue depth or end-to-end mode)."""
    why = validity.mismatch(operations(base), operations(env))
    if why:
        return Overhead(math.nan, math.nan, math.nan, confidence, n_native=len(base), n_env=len(env),
                        method=NOT_COMPARABLE, reason=why)
    return paired_overhead(by_round(base), by_round(env), higher_is_better, confidence, offsets)


def _table_row(case: str, metric: str, environment: str, base: "pd.DataFrame", env: "pd.DataFrame",
               confidence: float, offsets: Offsets) -> dict[str, Any]:
    """One row of the overhead table: ``env`` trials against the ``base`` trials, paired by round."""
    first = base.iloc[0] if len(base) else env.iloc[0]
    higher_is_better = bool(first["higher_is_better"])
    o = sides_overhead(base, env, higher_is_better, confidence, offsets)
    return {
        "case": case, "metric": metric, "unit": first["unit"],
        "higher_is_better": higher_is_better, "environment": environment,
        "baseline_median": median(base["value"]), "env_median": median(env["value"]),
        "overhead_pct": o.point, "ci_low": o.low, "ci_high": o.high, "p_value": o.p_value,
        "n_baseline": o.n_native, "n_env": o.n_env, "n_pairs": o.n_pairs, "method": o.method_text,
        "lag1_autocorr": o.lag1, "aa_offset_pct": offsets.sd_pct, "aa_floor_pct": math.nan, "verdict": o.label,
    }


def pairs_text(row: Any) -> str:
    """How many pairs decided a table row; for an unpaired comparison the trials on each side; for a row that is
    not comparable, the trials on each side and no pairs."""
    if row.method.startswith(PAIRED):
        return str(row.n_pairs)
    return f"{row.n_baseline}/{row.n_env} {'trials' if row.method == NOT_COMPARABLE else UNPAIRED}"


def aa_floor(row: dict) -> float:
    """The A/A control's noise floor from its row, on the log scale: the largest factor its CI allows either way,
    as a percent (a CI of [-20%, +10%] gives 25%: 1/0.8 = 1.25); nan without a CI. An overhead is inside the floor
    when ``abs(log1p(overhead / 100)) <= log1p(floor / 100)``, the same for a slowdown and its mirror speed-up."""
    low, high = to_log(row["ci_low"]), to_log(row["ci_high"])
    return to_pct(max(abs(low), abs(high))) if math.isfinite(low) and math.isfinite(high) else math.nan


def measured(frame: "pd.DataFrame") -> "pd.DataFrame":
    """The rows of measured trials: not warmup, status "ok" (the one selector of every analysis; callers narrow
    it further, e.g. to primary metrics)."""
    return frame[~frame["warmup"].astype(bool) & (frame["status"] == "ok")]


def kind(workload: object) -> str:
    """The family of a workload ("io" for "io.fio"): the unit over which A/A offsets are pooled."""
    return str(workload).partition(".")[0] if isinstance(workload, str) else ""


def offsets_by_kind(used: "pd.DataFrame", baseline: str = BASELINE, control: str = AA_CONTROL) -> dict[str, Offsets]:
    """Per workload family, the A/A offsets (``aa_offsets``) of the measured trials ``used``, from each case's
    primary metric (every metric where the table has no ``primary`` column). A family without an A/A case has
    none (no key); a table without a ``workload`` column is one family, ""."""
    primary = used[used["primary"].astype(bool)] if "primary" in used else used
    ratios: dict[str, list[np.ndarray]] = {}
    for _, group in primary.groupby(["case", "metric"], sort=True):
        base, aa = group[group["environment"] == baseline], group[group["environment"] == control]
        if base.empty or aa.empty or validity.mismatch(operations(base), operations(aa)):
            continue
        family = kind(group["workload"].iloc[0]) if "workload" in group else ""
        x, y = pairs(by_round(base), by_round(aa))
        ratios.setdefault(family, []).append(log_cost(x, y, bool(group["higher_is_better"].iloc[0])))
    return {family: aa_offsets(d) for family, d in ratios.items()}


def offsets_for(offsets: Mapping[str, Offsets], group: "pd.DataFrame") -> Offsets:
    """The offsets that widen the rows of one (case, metric) group: its workload family's."""
    family = kind(group["workload"].iloc[0]) if "workload" in group and len(group) else ""
    return offsets.get(family, NO_OFFSETS)


def overhead_table(df: "pd.DataFrame", baseline: str = BASELINE, confidence: float = 0.95,
                   control: str = AA_CONTROL) -> "pd.DataFrame":
    """Overhead of every environment against ``baseline``, per (case, metric), paired by round; where the run
    measured the A/A ``control``, every row of the case carries its floor (``aa_floor_pct``), and every other
    environment's interval is widened by the offsets the control shows (``aa_offset_pct``, see ``aa_offsets``).

    ``df`` is the tidy trials table (case, environment, metric, value, unit, higher_is_better, round, warmup,
    status; optionally workload, primary, operation); only non-warmup rows with status "ok" count. Returns one
    row per (case, metric, non-baseline environment) with the columns in ``TABLE_COLUMNS``, sorted by case,
    metric and environment. A case+metric without baseline trials still gets rows, with nan overheads.
    """
    import pandas as pd

    used = measured(df)
    offsets = offsets_by_kind(used, baseline, control)
    rows = []
    for (case, metric), group in used.groupby(["case", "metric"], sort=True):
        base = group[group["environment"] == baseline]
        others = group[group["environment"] != baseline]
        widen_by = offsets_for(offsets, group)
        case_rows = [_table_row(str(case), str(metric), str(environment), base, env, confidence,
                                NO_OFFSETS if environment == control else widen_by)
                     for environment, env in others.groupby("environment", sort=True)]
        floor = next((aa_floor(r) for r in case_rows if r["environment"] == control), math.nan)
        rows += [{**r, "aa_floor_pct": floor} for r in case_rows]
    table = pd.DataFrame(rows, columns=TABLE_COLUMNS)
    return table.sort_values(["case", "metric", "environment"], ignore_index=True)


def exceeds_p(native: Mapping[int, float], env: Mapping[int, float], higher_is_better: bool, limit_pct: float,
              alternative: str, offsets: Offsets = NO_OFFSETS) -> float:
    """The one-sided p-value that the overhead is above (``alternative="greater"``) or below (``"less"``)
    ``limit_pct``: the signed-rank test of the paired log ratios shifted by the limit (the rank-sum test where
    too few rounds have both sides, as in ``paired_overhead``); where the interval is widened (serial correlation,
    A/A offsets), the normal approximation on the widened 95% interval, so that ``p < 0.025`` exactly when that
    interval's bound clears the limit; nan when there is no test to make."""
    from scipy import stats as sps

    o = paired_overhead(native, env, higher_is_better, 0.95, offsets)
    if o.widening:
        return _widened_p(o, limit_pct, alternative)
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


def _widened_p(o: Overhead, limit_pct: float, alternative: str) -> float:
    """The one-sided normal p-value of a widened interval against a limit: the standard error from the side of
    the interval that faces the limit."""
    z = float(NORMAL.inv_cdf(1 - (1 - o.confidence) / 2))
    center, limit = to_log(o.point), to_log(limit_pct)
    if alternative == "greater":
        se = (center - to_log(o.low)) / z
        return float(NORMAL.cdf(-(center - limit) / se)) if se > 0 else math.nan
    se = (to_log(o.high) - center) / z
    return float(NORMAL.cdf(-(limit - center) / se)) if se > 0 else math.nan
