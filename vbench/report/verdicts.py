"""The verdict table: each claim under test (the folklore, the published figures) and what this run says of it."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from vbench.report.labels import fmt_ci, fmt_pct, is_number

if TYPE_CHECKING:
    import pandas as pd

# verdict value -> CSS class; anything else is styled as "other"
VERDICT_CLASSES = {"holds": "holds", "refuted": "refuted", "inconclusive": "inconclusive",
                   "emulation": "emulation", "not run": "notrun"}


def verdict_section(frame: "pd.DataFrame", labels: dict[str, str]) -> dict:
    """The verdict table's rows: ``tested`` (claims this run decides or could test), ``untested`` (verdict
    "not run": the run has no trials for them) and a ``note`` when there are no verdicts at all."""
    try:
        from vbench.claims import evaluate
    except ImportError as exc:
        return {"tested": [], "untested": [], "note": f"claims unavailable ({exc})"}
    rows = [_verdict_row(verdict, labels) for verdict in evaluate(frame)]
    return {"tested": [r for r in rows if r["verdict"] != "not run"],
            "untested": [r for r in rows if r["verdict"] == "not run"],
            "note": None if rows else "no claim applies to this run"}


def _verdict_row(verdict: Any, labels: dict[str, str]) -> dict:
    return {
        "claim_id": verdict.claim_id, "claim": verdict.claim, "source": verdict.source,
        "verdict": verdict.verdict, "css": VERDICT_CLASSES.get(verdict.verdict, "other"),
        "reason": verdict.reason, "cases": [_case(case, labels) for case in verdict.cases],
    }


def _case(case: dict, labels: dict[str, str]) -> dict:
    environment = str(case.get("environment", ""))
    published = case.get("published_pct")
    return {
        "case": case.get("case"), "environment": labels.get(environment, environment),
        "overhead": fmt_pct(case.get("overhead_pct")), "ci": fmt_ci(case.get("ci_low"), case.get("ci_high")),
        "published": fmt_pct(published) if is_number(published) else None,
    }
