"""How the run was made: the fingerprints of the host and the environments, and the method (rounds, warmups,
interleaving, I/O modes, flags, accelerators, failures)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from vbench.report.fields import definition_rows, readable
from vbench.validity import flag_meaning, io_mode_meaning, resource_counts

if TYPE_CHECKING:
    import pandas as pd

def environment_cards(meta: dict, envs: list[str], labels: dict[str, str]) -> list[dict]:
    """Per environment: its fingerprint and its lifecycle (provisioning and teardown) as definition rows."""
    fingerprints = meta.get("env_fingerprints") or {}
    lifecycles = meta.get("lifecycles") or {}
    names = list(dict.fromkeys(envs + [str(k) for k in fingerprints]))
    return [{"label": labels.get(env, env), "fingerprint": definition_rows(fingerprints.get(env)),
             "lifecycle": definition_rows(lifecycles.get(env))} for env in names]


def method(meta: dict, trials: "pd.DataFrame", envs: list[str], labels: dict[str, str]) -> dict:
    """The method section; ``trials`` has one row per trial."""
    plan = (meta.get("suite") or {}).get("plan") or {}
    rounds = meta.get("rounds") or {}
    return {
        "rounds": {k: rounds.get(k) for k in ("done", "planned_min", "max", "stop_reason")},
        "decisions": [d for d in rounds.get("decisions") or [] if isinstance(d, dict)],
        "plan": definition_rows(plan), "seed": meta.get("seed"),
        "warmup_rounds": plan.get("warmup_rounds"), "warmup_trials": int(trials["warmup"].sum()),
        "io_modes": io_modes(trials, labels), "flags": flags(trials, labels),
        "accelerators": accelerators(meta, trials, envs, labels), "failures": failures(trials, labels),
        "skipped": [(labels.get(str(k), str(k)), str(v)) for k, v in (meta.get("skipped_environments") or {}).items()],
        "slicing": slicing(meta),
    }


def slicing(meta: dict) -> list[tuple[str, str]]:
    """(workload entry, how its trials ran): paired slices, or whole trials and why."""
    table = meta.get("slicing") or {}
    return [(str(name), "paired slices (vbench.slices)" if why is None else f"whole trials: {why}")
            for name, why in sorted(table.items())]  # "<entry> @ <environment>": whole in a sliced block


def io_modes(trials: "pd.DataFrame", labels: dict[str, str]) -> list[dict]:
    """Each I/O mode the trials record, its meaning, and the cases and environments that ran in it."""
    rows = []
    for mode, group in trials.dropna(subset=["io_mode"]).groupby("io_mode", sort=True):
        meaning = io_mode_meaning(mode)
        rows.append({"mode": mode, "meaning": meaning, "trials": len(group),
                     "cases": ", ".join(sorted(set(group["case"]))),
                     "environments": ", ".join(labels.get(e, e) for e in sorted(set(group["environment"])))})
    return rows


def flags(trials: "pd.DataFrame", labels: dict[str, str]) -> list[dict]:
    """Each flag raised, how often, on which cases and environments, and what it means."""
    seen: dict[str, list] = {}
    for row in trials[trials["flags"].fillna("").str.len() > 0].itertuples(index=False):
        for flag in filter(None, row.flags.split(",")):
            seen.setdefault(flag, []).append(row)
    return [{"flag": flag, "meaning": flag_meaning(flag), "trials": len(rows),
             "where": ", ".join(sorted({f"{r.case} @ {labels.get(r.environment, r.environment)}" for r in rows}))
             + resources(flag, rows)}
            for flag, rows in sorted(seen.items())]


def resources(flag: str, rows: list) -> str:
    """For host-disturbed, which resources the trials shared and how many each (" (by disk 9, cpu 3)")."""
    by = resource_counts(getattr(r, "disturbed_by", "") for r in rows) if flag == "host-disturbed" else ""
    return f" (by {by})" if by else ""


def accelerators(meta: dict, trials: "pd.DataFrame", envs: list[str], labels: dict[str, str]) -> list[dict]:
    """The accelerator of every environment that has one (VMs), with the reason it was chosen and the boot time."""
    fingerprints = meta.get("env_fingerprints") or {}
    rows = []
    for env in envs:
        fingerprint = fingerprints.get(env) if isinstance(fingerprints.get(env), dict) else {}
        recorded = sorted(set(trials.loc[trials["environment"] == env, "accelerator"].dropna().astype(str)))
        accelerator = ", ".join(recorded) or fingerprint.get("accelerator")
        if accelerator:
            rows.append({"environment": labels.get(env, env), "accelerator": str(accelerator),
                         "reason": readable("", fingerprint.get("accelerator_reason")),
                         "boot_s": readable("boot_s", fingerprint.get("boot_s"))})
    return rows


def failures(trials: "pd.DataFrame", labels: dict[str, str]) -> list[dict]:
    """Every trial whose status is not ok, with its error."""
    failed = trials[trials["status"] != "ok"]
    return [{"trial_id": r.trial_id, "case": r.case, "environment": labels.get(r.environment, r.environment),
             "status": r.status, "error": readable("", r.error) if isinstance(r.error, str) else "-"}
            for r in failed.itertuples(index=False)]
