"""A small, seeded simulator of interleaved benchmark rounds, for checking vbench's statistics by their coverage
and false-alarm rates instead of assuming them.

A round measures native and an environment back to back: both share the round's drift (the host's state, a
lognormal factor), each trial adds its own noise (lognormal), and an outlier (a trial that ran at a tenth of its
speed, as a real fsync trial here did at 5 ops/s among ~5,400) strikes either side at a given rate. Values are
times (lower is better) unless ``higher_is_better``; the environment's true overhead is ``true_pct``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Host:
    drift: float = 0.0  # sigma of the per-round lognormal factor both sides share
    noise: float = 0.05  # sigma of each trial's own lognormal noise
    outliers: float = 0.0  # probability that a trial is an outlier
    outlier_factor: float = 10.0  # how much slower an outlier runs


def rounds(rng: np.random.Generator, n: int, true_pct: float, host: Host) -> tuple[np.ndarray, np.ndarray]:
    """(native, env) times of ``n`` rounds."""
    drift = rng.lognormal(0.0, host.drift, n) if host.drift else np.ones(n)
    native = 100.0 * drift * rng.lognormal(0.0, host.noise, n)
    env = 100.0 * (1 + true_pct / 100.0) * drift * rng.lognormal(0.0, host.noise, n)
    for side in (native, env):
        hit = rng.random(n) < host.outliers
        side[hit] *= host.outlier_factor
    return native, env


def covers(low: float, high: float, truth: float) -> bool:
    return math.isfinite(low) and math.isfinite(high) and low <= truth <= high


def runs(rng: np.random.Generator, k: int, n: int, true_pct: float, host: Host, run_sigma: float) -> list:
    """``k`` runs of ``n`` rounds each; every run has its own level (lognormal ``run_sigma``): the run-to-run
    variation a second run brings (another boot, another page cache, another placement on the disk)."""
    out = []
    for _ in range(k):
        level = rng.lognormal(0.0, run_sigma)
        native, env = rounds(rng, n, true_pct, host)
        out.append((native * level, env * level))
    return out
