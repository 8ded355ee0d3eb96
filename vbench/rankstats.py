"""Distribution-free estimates and tests from ranks: Hodges-Lehmann shifts with their exact intervals, and Holm.

- One sample of paired differences (the per-round log ratios of an environment against native): the
  Hodges-Lehmann estimate is the median of the Walsh averages ``(d_i + d_j) / 2, i <= j``; its confidence
  interval runs between two order statistics of those averages, chosen from the exact null distribution of the
  Wilcoxon signed-rank statistic, and the signed-rank test gives the p-value. Valid whenever the differences are
  symmetric about their center, whatever their shape; robust to outliers (breakdown point 29%).
- Two independent samples (a round without its partner): the median of all differences ``y_j - x_i`` with the
  interval from the exact Mann-Whitney distribution, and the rank-sum test.

Exact distributions up to ``EXACT_MAX`` values, the normal approximation beyond. Everything is pure numpy.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Sequence

import numpy as np
from numpy.typing import ArrayLike

EXACT_MAX = 60
NORMAL = NormalDist()


@dataclass(frozen=True)
class Shift:
    """A location estimate with its interval and a p-value; ``low``/``high`` are nan when no interval at this
    confidence exists for so few values (a signed-rank 95% interval needs at least 6)."""

    point: float
    low: float
    high: float
    p_value: float
    n: int


# Bounded: a run asks for one n more per round, and the table of n holds n(n+1)/2 values.
@functools.lru_cache(maxsize=16)
def signed_rank_cdf(n: int) -> np.ndarray:
    """P(T <= t) for t = 0..n(n+1)/2, T the signed-rank statistic of n values under the null (exact)."""
    counts = np.zeros(n * (n + 1) // 2 + 1)
    counts[0] = 1.0
    for rank in range(1, n + 1):
        counts[rank:] = counts[rank:] + counts[:-rank].copy()
    return np.cumsum(counts) / 2.0 ** n


@functools.lru_cache(maxsize=16)
def rank_sum_cdf(m: int, n: int) -> np.ndarray:
    """P(U <= u) for u = 0..m*n, U the Mann-Whitney statistic of samples of m and n under the null (exact)."""
    # Counts of U for (i, j) from counts for (i - 1, j) shifted by j and (i, j - 1): one row at a time.
    table = [np.ones(1) for _ in range(n + 1)]  # i = 0: U = 0 in one way for any j
    for i in range(1, m + 1):
        row = [np.ones(1)]  # j = 0
        for j in range(1, n + 1):
            counts = np.zeros(i * j + 1)
            counts[j:j + table[j].size] += table[j]
            counts[:row[j - 1].size] += row[j - 1]
            row.append(counts)
        table = row
    counts = table[n]
    return np.cumsum(counts) / counts.sum()


def _critical(cdf: np.ndarray, alpha: float) -> int:
    """The largest k with P(stat <= k - 1) <= alpha / 2: the interval is [W_(k), W_(M - k + 1)]; 0 when none."""
    return int(np.searchsorted(cdf, alpha / 2.0, side="right"))


def _normal_critical(mean: float, sd: float, alpha: float) -> int:
    z = _z(1.0 - alpha / 2.0)
    return max(0, int(math.floor(mean - z * sd)))


def _z(q: float) -> float:
    return NORMAL.inv_cdf(q)


def walsh_averages(d: np.ndarray) -> np.ndarray:
    """Every (d_i + d_j) / 2 with i <= j, sorted."""
    i, j = np.triu_indices(d.size)
    return np.sort((d[i] + d[j]) / 2.0)


def paired_shift(differences: ArrayLike, confidence: float = 0.95) -> Shift:
    """Hodges-Lehmann estimate of the center of ``differences`` with the signed-rank interval and p-value."""
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    n = d.size
    if n == 0:
        return Shift(math.nan, math.nan, math.nan, math.nan, 0)
    walsh = walsh_averages(d)
    point = float(np.median(walsh))
    alpha = 1.0 - confidence
    if n <= EXACT_MAX:
        k = _critical(signed_rank_cdf(n), alpha)
    else:
        m = n * (n + 1) / 4.0
        k = _normal_critical(m, math.sqrt(n * (n + 1) * (2 * n + 1) / 24.0), alpha)
    low, high = (float(walsh[k - 1]), float(walsh[walsh.size - k])) if k >= 1 else (math.nan, math.nan)
    return Shift(point, low, high, signed_rank_p(d), n)


def signed_rank_p(d: np.ndarray, alternative: str = "two-sided") -> float:
    """The Wilcoxon signed-rank p-value of ``d`` against a center of 0 (zeros dropped); nan when all are 0.

    Exact from the cached null distribution when there are no ties (the common case, and fast enough for
    simulations of thousands of runs); the normal approximation with the tie correction otherwise
    (:func:`signed_rank_p_normal`)."""
    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d) & (d != 0)]
    n = d.size
    if n == 0:
        return math.nan
    magnitudes = np.abs(d)
    if n > EXACT_MAX or np.unique(magnitudes).size < n:
        return signed_rank_p_normal(d, alternative)
    ranks = np.empty(n)
    ranks[np.argsort(magnitudes)] = np.arange(1, n + 1)
    t = int(round(ranks[d > 0].sum()))
    cdf = signed_rank_cdf(n)
    below, above = cdf[t], 1.0 - (cdf[t - 1] if t > 0 else 0.0)  # P(T <= t), P(T >= t)
    if alternative == "greater":
        return float(above)
    if alternative == "less":
        return float(below)
    return float(min(1.0, 2.0 * min(below, above)))


def signed_rank_p_normal(d: np.ndarray, alternative: str = "two-sided") -> float:
    """The signed-rank p-value of the non-zero ``d`` by the normal approximation: the sum of the positive
    differences' ranks (ties given their mean rank), its variance less each tie group's t(t^2 - 1)/48, no
    continuity correction; scipy's ``wilcoxon(method="approx")``, which a test checks, without importing scipy
    into a run (a run's rounds pass 60 pairs, and scipy then cost 59 MiB and a thread for one p-value)."""
    n = d.size
    magnitudes = np.abs(d)
    values, group, counts = np.unique(magnitudes, return_inverse=True, return_counts=True)
    mean_rank = np.cumsum(counts) - (counts - 1) / 2.0  # a tie group's mean rank: its last rank less (size - 1) / 2
    r_plus = float(mean_rank[group][d > 0].sum())
    variance = (n * (n + 1) * (2 * n + 1) - 0.5 * float((counts * (counts * counts - 1)).sum())) / 24.0
    if variance <= 0 or values.size == 0:
        return math.nan
    z = (r_plus - n * (n + 1) / 4.0) / math.sqrt(variance)
    if alternative == "greater":
        return float(1.0 - NORMAL.cdf(z))
    if alternative == "less":
        return float(NORMAL.cdf(z))
    return float(min(1.0, 2.0 * (1.0 - NORMAL.cdf(abs(z)))))


def two_sample_shift(x: ArrayLike, y: ArrayLike, confidence: float = 0.95) -> Shift:
    """Hodges-Lehmann estimate of the shift of ``y`` from ``x`` with the Mann-Whitney interval and p-value."""
    from scipy import stats as sps

    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    m, n = a.size, b.size
    if m == 0 or n == 0:
        return Shift(math.nan, math.nan, math.nan, math.nan, 0)
    diffs = np.sort(np.subtract.outer(b, a).ravel())
    point = float(np.median(diffs))
    alpha = 1.0 - confidence
    if m <= EXACT_MAX and n <= EXACT_MAX:
        k = _critical(rank_sum_cdf(m, n), alpha)
    else:
        k = _normal_critical(m * n / 2.0, math.sqrt(m * n * (m + n + 1) / 12.0), alpha)
    low, high = (float(diffs[k - 1]), float(diffs[diffs.size - k])) if k >= 1 else (math.nan, math.nan)
    varied = np.ptp(np.concatenate([a, b])) > 0
    p = float(sps.mannwhitneyu(b, a, alternative="two-sided").pvalue) if varied and min(m, n) >= 1 else math.nan
    return Shift(point, low, high, p, min(m, n))


def holm(p_values: Sequence[float], alpha: float = 0.05) -> list[bool]:
    """Which hypotheses Holm's step-down procedure rejects at family-wise level ``alpha`` (nan: never)."""
    ps = [p if p == p else math.inf for p in p_values]
    order = sorted(range(len(ps)), key=ps.__getitem__)
    rejected = [False] * len(ps)
    for step, index in enumerate(order):
        if ps[index] > alpha / (len(ps) - step):
            break
        rejected[index] = True
    return rejected
