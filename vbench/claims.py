"""Claims as data (claims.toml) turned into verdicts on a run: holds, refuted, inconclusive, emulation, not run.

A verdict carries the numbers that decide it. A claim about hardware virtualization is never decided by a VM
that ran under TCG: that is emulation, a different thing, and the verdict says so.
"""
from __future__ import annotations

import fnmatch
import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from vbench import stats

HOLDS, REFUTED, INCONCLUSIVE, EMULATION, NOT_RUN = "holds", "refuted", "inconclusive", "emulation", "not run"
RULES = ("at_most", "slower_than", "near")


@dataclass(frozen=True)
class Claim:
    id: str
    claim: str
    source: str
    rule: str
    cases: tuple[str, ...]
    env_kind: str | None = None
    variant: str | None = None
    env: str | None = None
    than: str | None = None
    metric: str | None = None
    limit_pct: float | None = None
    margin_pct: float = 0.0
    published_pct: float | None = None
    tolerance_pct: float | None = None
    note: str = ""
    kvm_only: bool = False


@dataclass(frozen=True)
class Verdict:
    claim_id: str
    claim: str
    source: str
    verdict: str
    reason: str
    cases: tuple[dict, ...] = ()


def load_claims() -> list[Claim]:
    data = tomllib.loads(resources.files("vbench").joinpath("claims.toml").read_text())
    claims = []
    for raw in data["claim"]:
        claim = Claim(**{**raw, "cases": tuple(raw["cases"])})
        if claim.rule not in RULES:
            raise ValueError(f"claims.toml: {claim.id}: unknown rule {claim.rule!r}")
        claims.append(claim)
    return claims


def evaluate(frame, claims: list[Claim] | None = None) -> list[Verdict]:
    """A verdict for every claim on the run's tidy trials table (see vbench.load)."""
    measured = frame[~frame["warmup"] & (frame["status"] == "ok") & frame["metric"].notna()]
    return [_evaluate(claim, measured) for claim in (claims or load_claims())]


def _evaluate(claim: Claim, measured) -> Verdict:
    rows = _case_rows(claim, measured)
    if not rows:
        return _verdict(claim, NOT_RUN, f"no trials of {_wants(claim)} in this run")
    if claim.kvm_only and all(r["accelerator"] == "tcg" for r in rows):
        envs = ", ".join(sorted({r["environment"] for r in rows}))
        return _verdict(claim, EMULATION, f"{envs} ran under TCG software emulation: that measures emulation, "
                                          "not the hardware virtualization the claim is about", rows)
    rows = [r for r in rows if not (claim.kvm_only and r["accelerator"] == "tcg")]
    for row in rows:
        row["verdict"] = _case_verdict(claim, row)
    return _verdict(claim, _combine([r["verdict"] for r in rows]), _reason(claim, rows), rows)


def _case_rows(claim: Claim, measured) -> list[dict]:
    """Per matched (case, environment): the overhead that tests the claim, with its CI."""
    rows = []
    for case in sorted(set(measured["case"])):
        if not any(fnmatch.fnmatchcase(case, pattern) for pattern in claim.cases):
            continue
        trials = measured[measured["case"] == case]
        metric = claim.metric or _primary(trials)
        trials = trials[trials["metric"] == metric]
        if trials.empty:
            continue
        for environment, base, other in _pairs(claim, trials):
            hib = bool(other["higher_is_better"].iloc[0])
            o = stats.overhead(base["value"].to_numpy(), other["value"].to_numpy(), hib)
            accelerator = other["accelerator"].dropna()
            rows.append({"case": case, "environment": environment, "metric": metric,
                         "overhead_pct": o.point, "ci_low": o.low, "ci_high": o.high,
                         "n": (o.n_native, o.n_env), "published_pct": claim.published_pct,
                         "accelerator": accelerator.iloc[0] if len(accelerator) else None})
    return rows


def _pairs(claim: Claim, trials):
    """(environment, baseline trials, environment trials) for the claim's comparison."""
    if claim.rule == "slower_than":
        base, other = trials[trials["environment"] == claim.than], trials[trials["environment"] == claim.env]
        if len(base) and len(other):
            yield f"{claim.env} vs {claim.than}", base, other
        return
    base = trials[trials["environment"] == "native"]
    if base.empty:
        return
    for environment, other in trials.groupby("environment"):
        kind, _, variant = environment.partition(":")
        if kind == claim.env_kind and (claim.variant is None or variant == claim.variant):
            yield environment, base, other


def _case_verdict(claim: Claim, row: dict) -> str:
    low, high = row["ci_low"], row["ci_high"]
    if math.isnan(low) or math.isnan(high):
        return INCONCLUSIVE
    if claim.rule == "at_most":
        return HOLDS if high <= claim.limit_pct else REFUTED if low > claim.limit_pct else INCONCLUSIVE
    if claim.rule == "slower_than":
        return HOLDS if low > 0 else REFUTED if high < claim.margin_pct else INCONCLUSIVE
    lo, hi = claim.published_pct - claim.tolerance_pct, claim.published_pct + claim.tolerance_pct
    return HOLDS if lo <= low and high <= hi else REFUTED if high < lo or low > hi else INCONCLUSIVE


def _combine(verdicts: list[str]) -> str:
    """A claim about all the cases: one refuting case refutes it; it holds only when every case holds."""
    if REFUTED in verdicts:
        return REFUTED
    return HOLDS if verdicts and all(v == HOLDS for v in verdicts) else INCONCLUSIVE


def _reason(claim: Claim, rows: list[dict]) -> str:
    counts = {v: sum(r["verdict"] == v for r in rows) for v in (HOLDS, REFUTED, INCONCLUSIVE)}
    worst = max(rows, key=lambda r: -math.inf if math.isnan(r["overhead_pct"]) else r["overhead_pct"])
    if claim.rule == "at_most":
        test = f"overhead at most {claim.limit_pct:g}%"
    elif claim.rule == "slower_than":
        test = f"{claim.env} slower than {claim.than} (refuted below +{claim.margin_pct:g}%)"
    else:
        test = f"overhead within {claim.published_pct:g} +- {claim.tolerance_pct:g}%"
    tally = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    return (f"test: {test}; {len(rows)} case(s): {tally}; largest: {worst['case']} @ {worst['environment']} "
            f"{_pct(worst['overhead_pct'])} [{_pct(worst['ci_low'])}, {_pct(worst['ci_high'])}]")


def _wants(claim: Claim) -> str:
    where = f"{claim.env} and {claim.than}" if claim.rule == "slower_than" else \
        f"native and {claim.env_kind}{':' + claim.variant if claim.variant else ''}"
    return f"{', '.join(claim.cases)} on {where}"


def _primary(trials) -> str:
    primary = trials.loc[trials["primary"], "metric"]
    return primary.iloc[0] if len(primary) else trials["metric"].iloc[0]


def _verdict(claim: Claim, verdict: str, reason: str, rows: list[dict] | None = None) -> Verdict:
    if claim.note:
        reason = f"{reason} ({claim.note})"
    keep = ("case", "environment", "metric", "overhead_pct", "ci_low", "ci_high", "published_pct", "verdict")
    cases = tuple({k: r.get(k) for k in keep} for r in rows or [])
    return Verdict(claim.id, claim.claim, claim.source, verdict, reason, cases)


def _pct(value: Any) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:+.1f}%"
