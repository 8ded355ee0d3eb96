"""Claims as data (claims.toml) turned into verdicts on a run: holds, refuted, inconclusive, emulation, not run.

A verdict carries the numbers that decide it. A claim about hardware virtualization is never decided by a VM
that ran under TCG: that is emulation, a different thing, and the verdict says so.
"""
from __future__ import annotations

import dataclasses
import fnmatch
import math
import tomllib
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING, Any, Iterator

from vbench import fmt, rankstats, stats
from vbench.model import BASELINE, TCG

if TYPE_CHECKING:
    import pandas as pd

HOLDS, REFUTED, INCONCLUSIVE, EMULATION, NOT_RUN = "holds", "refuted", "inconclusive", "emulation", "not run"
RULES = ("at_most", "slower_than", "near")
ALPHA = 0.05
NA = "n/a"  # a number a reason cannot give


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


def evaluate(frame: "pd.DataFrame", claims: list[Claim] | None = None) -> list[Verdict]:
    """A verdict for every claim on the run's tidy trials table (see vbench.load)."""
    rows = stats.measured(frame)
    rows = rows[rows["metric"].notna()]
    offsets = stats.offsets_by_kind(rows)  # the A/A control's offsets widen every interval, as in the table
    return [_evaluate(claim, rows, offsets) for claim in (claims or load_claims())]


def _evaluate(claim: Claim, measured: "pd.DataFrame", offsets: dict[str, stats.Offsets]) -> Verdict:
    rows = _case_rows(claim, measured, offsets)
    apart = [r for r in rows if r.get("not_comparable")]  # another operation on each side: no claim counts it
    rows = [r for r in rows if not r.get("not_comparable")]
    if apart and not rows:
        return _verdict(claim, NOT_RUN, f"every case of {_wants(claim)} was not comparable, e.g. {apart[0]['case']} "
                                        f"@ {apart[0]['environment']}: {apart[0]['reason']}")
    if not rows:
        return _verdict(claim, NOT_RUN, f"no trials of {_wants(claim)} in this run")
    if apart:
        return _with_apart(_evaluate_rows(claim, rows), apart)
    return _evaluate_rows(claim, rows)


def _evaluate_rows(claim: Claim, rows: list[dict]) -> Verdict:
    if claim.kvm_only and all(r["accelerator"] == TCG for r in rows):
        envs = ", ".join(sorted({r["environment"] for r in rows}))
        return _verdict(claim, EMULATION, f"{envs} ran under TCG software emulation: that measures emulation, "
                                          "not the hardware virtualization the claim is about", rows)
    rows = [r for r in rows if not (claim.kvm_only and r["accelerator"] == TCG)]
    return _verdict(claim, _decide(rows), _reason(claim, rows), rows)


def _case_rows(claim: Claim, measured: "pd.DataFrame", offsets: dict[str, stats.Offsets]) -> list[dict[str, Any]]:
    """Per matched (case, environment): the paired overhead that tests the claim, with its CI and the p-value of
    the test that would refute it (both widened by the A/A offsets of the case's workload family)."""
    rows = []
    for case in sorted(set(measured["case"])):
        if not any(fnmatch.fnmatchcase(case, pattern) for pattern in claim.cases):
            continue
        trials = measured[measured["case"] == case]
        metric = claim.metric or _primary(trials)
        trials = trials[trials["metric"] == metric]
        if trials.empty:
            continue
        widen_by = stats.offsets_for(offsets, trials)
        for environment, base, other in _pairs(claim, trials):
            hib = bool(other["higher_is_better"].iloc[0])
            native, env = stats.by_round(base), stats.by_round(other)
            o = stats.sides_overhead(base, other, hib, offsets=widen_by)
            accelerator = other["accelerator"].dropna()
            row = {"case": case, "environment": environment, "metric": metric,
                   "overhead_pct": o.point, "ci_low": o.low, "ci_high": o.high, "reason": o.reason,
                   "n": o.n_pairs, "method": o.method_text, "published_pct": claim.published_pct,
                   "accelerator": accelerator.iloc[0] if len(accelerator) else None}
            if o.method == stats.NOT_COMPARABLE:
                rows.append({**row, "not_comparable": True})
                continue
            rows.append({**row, **_tests(claim, native, env, hib, o, widen_by)})
    return rows


def _pairs(claim: Claim, trials: "pd.DataFrame") -> Iterator[tuple[str, "pd.DataFrame", "pd.DataFrame"]]:
    """(environment, baseline trials, environment trials) for the claim's comparison."""
    if claim.rule == "slower_than":
        base, other = trials[trials["environment"] == claim.than], trials[trials["environment"] == claim.env]
        if len(base) and len(other):
            yield f"{claim.env} vs {claim.than}", base, other
        return
    base = trials[trials["environment"] == BASELINE]
    if base.empty:
        return
    for environment, other in trials.groupby("environment"):
        kind, _, variant = str(environment).partition(":")
        if kind == claim.env_kind and (claim.variant is None or variant == claim.variant):
            yield str(environment), base, other


def _tests(claim: Claim, native: dict, env: dict, hib: bool, o: stats.Overhead,
           offsets: stats.Offsets = stats.NO_OFFSETS) -> dict:
    """Whether this case holds at level ALPHA on its own, and the p-value of the test that would refute it (for
    Holm's procedure across the claim's cases)."""
    if o.reason or math.isnan(o.low):
        return {"holds": False, "refute_p": math.nan}

    def beyond(limit: float, alternative: str) -> float:
        return stats.exceeds_p(native, env, hib, limit, alternative, offsets)

    if claim.rule == "at_most":  # holds: the 95% CI's upper bound within the limit (one-sided alpha 0.025)
        limit = _given(claim.limit_pct)
        return {"holds": o.high <= limit, "refute_p": beyond(limit, "greater")}
    if claim.rule == "slower_than":  # ordered regions: slower by more than the margin / no meaningful slowdown
        margin = _given(claim.margin_pct)
        below = beyond(margin, "less") if o.low <= 0 else math.nan
        return {"holds": o.low > margin, "refute_p": below}
    published, tolerance = _given(claim.published_pct), _given(claim.tolerance_pct)
    lo, hi = published - tolerance, published + tolerance
    tost = stats.paired_overhead(native, env, hib, 1 - 2 * ALPHA, offsets)  # TOST at ALPHA: the 90% CI
    # Refuted when the effect is shown to be above the band or below it: either of two one-sided tests, so the
    # smaller p-value is doubled (Bonferroni), or a true claim would be refuted up to twice as often as ALPHA.
    sides = [q for q in (beyond(hi, "greater"), beyond(lo, "less")) if not math.isnan(q)]
    outside = min(1.0, 2 * min(sides)) if sides else math.nan
    return {"holds": not tost.reason and lo <= tost.low and tost.high <= hi, "ci90_low": tost.low,
            "ci90_high": tost.high, "refute_p": outside}


def _decide(rows: list[dict]) -> str:
    """Each case's verdict, and the claim's: it holds when every case holds (an intersection-union test: each at
    ALPHA); it is refuted when Holm's procedure across the cases rejects at least one case's claim."""
    refuted = rankstats.holm([r["refute_p"] for r in rows], ALPHA)
    for row, rejected in zip(rows, refuted):
        row["verdict"] = HOLDS if row["holds"] else REFUTED if rejected else INCONCLUSIVE
    if all(r["holds"] for r in rows):
        return HOLDS
    return REFUTED if any(refuted) else INCONCLUSIVE


def _reason(claim: Claim, rows: list[dict]) -> str:
    counts = {v: sum(r["verdict"] == v for r in rows) for v in (HOLDS, REFUTED, INCONCLUSIVE)}
    worst = max(rows, key=lambda r: -math.inf if math.isnan(r["overhead_pct"]) else r["overhead_pct"])
    if claim.rule == "at_most":
        test = f"overhead at most {claim.limit_pct:g}% (every case's 95% CI at or below it)"
    elif claim.rule == "slower_than":
        test = (f"{claim.env} slower than {claim.than} by more than {claim.margin_pct:g}% (every case's 95% CI "
                "above it; refuted by a CI below it that does not exclude 0)")
    else:
        test = (f"overhead within {claim.published_pct:g} +- {claim.tolerance_pct:g}% (TOST at alpha {ALPHA:g}: "
                "every case's 90% CI inside)")
    tally = ", ".join(f"{n} {v}" for v, n in counts.items() if n)
    short = [f"{r['case']} @ {r['environment']}: {r['reason']}" for r in rows if r.get("reason")]
    why = f"; no CI for {len(short)}, e.g. {short[0]}" if short else ""
    cases = fmt.plural(len(rows), "case")
    return (f"test: {test}; holds needs every case, refuted by Holm's procedure across the {cases} at "
            f"alpha {ALPHA:g}; {tally}{why}; largest: {worst['case']} @ {worst['environment']} "
            f"{fmt.signed_pct(worst['overhead_pct'], NA)} {fmt.signed_interval(worst['ci_low'], worst['ci_high'], NA)}")


def _wants(claim: Claim) -> str:
    where = f"{claim.env} and {claim.than}" if claim.rule == "slower_than" else \
        f"native and {claim.env_kind}{':' + claim.variant if claim.variant else ''}"
    return f"{', '.join(claim.cases)} on {where}"


def _given(value: float | None) -> float:
    """A figure of a claim its rule requires (load_claims checked that it is there)."""
    if value is None:
        raise ValueError("a claim lacks a figure its rule requires")
    return value


def _primary(trials: "pd.DataFrame") -> str:
    primary = trials.loc[trials["primary"], "metric"]
    return str(primary.iloc[0] if len(primary) else trials["metric"].iloc[0])


def _verdict(claim: Claim, verdict: str, reason: str, rows: list[dict] | None = None) -> Verdict:
    if claim.note:
        reason = f"{reason} ({claim.note})"
    cases = tuple({k: r.get(k) for k in CASE_FIELDS} for r in rows or [])
    return Verdict(claim.id, claim.claim, claim.source, verdict, reason, cases)


def _with_apart(verdict: Verdict, apart: list[dict]) -> Verdict:
    """``verdict`` with the cases left out as not comparable named in its reason and listed, undecided."""
    first = apart[0]
    reason = (f"{verdict.reason}; {fmt.plural(len(apart), 'case')} left out as not comparable, e.g. {first['case']} @ "
              f"{first['environment']}: {first['reason']}")
    left_out = tuple({**{k: r.get(k) for k in CASE_FIELDS}, "verdict": stats.NOT_COMPARABLE} for r in apart)
    return dataclasses.replace(verdict, reason=reason, cases=verdict.cases + left_out)


CASE_FIELDS = ("case", "environment", "metric", "overhead_pct", "ci_low", "ci_high", "n", "reason", "published_pct",
               "verdict")
