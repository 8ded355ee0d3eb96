"""Listings: suites, workloads and environments (``vbench list``), doctor's checks, the cached guest images."""
from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.table import Table

from vbench import fmt
from vbench.console import out
from vbench.catalog import BUILT_IN


def listing() -> dict[str, list[dict[str, Any]]]:
    """What ``vbench list`` shows, as data: the suites, the workloads and the environment kinds with whether
    each of their variants can run here, and why not."""
    from vbench import catalog, envs
    from vbench.suite import builtin_names, load_suite

    from vbench import history

    suites = []
    ran = history.last_runs()
    for name in builtin_names():
        suite = load_suite(name)
        times = {}
        for size, quick in (("full", False), ("quick", True)):
            last = ran.get((name, quick))
            plan = load_suite(name, quick=True).plan if quick else suite.plan
            times[size] = {"budget_s": plan.time_budget_s,
                           "last_s": last.get("wall_s") if last else None,
                           "last_environments": last.get("environments") if last else None}
        suites.append({"suite": name, "workloads": len(suite.entries), "environments": list(suite.environments),
                       "description": suite.description, "time": times})
    workloads = []
    for name in catalog.workload_names():
        info = catalog.describe(name)
        metrics = sorted(info.metrics, key=lambda m: m != info.primary)
        workloads.append({"workload": name, "metrics": [f"{m} ({info.metrics[m][0]})" for m in metrics],
                          "summary": info.summary.replace("``", ""), "from": catalog.origin(name)})
    environments = []
    for kind in envs.kinds():
        cls = envs.env_class(kind)
        availability = cls.available()
        variants: dict[str, str] = {}
        for variant in cls.variants or [None]:
            here = cls.available_variant(variant) if availability.ok else availability
            variants[variant or kind] = "yes" if here.ok else f"no: {here.reason}"
        note = accelerator_note(kind) if availability.ok else ""
        environments.append({"environment": kind, "available": "yes" if availability.ok else
                             f"no: {availability.reason}", "variants": variants, "note": note,
                             "from": envs.origin(kind)})
    return {"suites": suites, "workloads": workloads, "environments": environments}


def accelerator_note(kind: str) -> str:
    """For a VM kind, what its guests would run under here, from the cached KVM probe ("" for other kinds)."""
    if kind != "vm":
        return ""
    from vbench.envs.qemu import cached_probe
    from vbench.images import guest_image

    probed = cached_probe(guest_image())
    if probed is None:
        return "KVM not probed since this host booted (vbench doctor --probe)"
    return "KVM" if probed[0] else "TCG software emulation: KVM is unusable here"


def print_listing(form: str | None = None) -> None:
    """The listing as tables on a terminal, plain text otherwise (or as ``form``: table, text or json)."""
    import json

    data = listing()
    form = form or ("table" if out.is_terminal else "text")
    if form == "json":
        print(json.dumps(data, indent=2))
    elif form == "text":
        print("\n".join(listing_text(data)))
    else:
        print_tables(data)


def listing_text(data: dict[str, list[dict[str, Any]]]) -> list[str]:
    """The listing as plain lines, one per suite, workload and variant (pure); the origin only when not built-in."""
    def origin(row: dict) -> str:
        return "" if row["from"] == BUILT_IN else f" [from {row['from']}]"

    lines = ["suites:"]
    lines += [f"  {s['suite']}: {s['description']} ({s['workloads']} workload{'s' if s['workloads'] != 1 else ''}; "
              f"environments: {', '.join(s['environments'])})\n    time: {time_text(s['time'])}"
              for s in data["suites"]]
    lines.append("workloads (metrics, primary first):")
    lines += [f"  {w['workload']}: {w['summary']} ({', '.join(w['metrics'])}){origin(w)}" for w in data["workloads"]]
    lines.append("environments and their variants (available here):")
    for e in data["environments"]:
        note = f"; {e['note']}" if e["note"] else ""
        lines.append(f"  {e['environment']}: {e['available']}{note}{origin(e)}")
        lines += [f"    {variant}: {here}" for variant, here in e["variants"].items()]
    return lines


def time_text(times: dict[str, dict[str, Any]]) -> str:
    """A suite's time estimate, full and --quick: the plan's time budget (rounds stop being added after it;
    provisioning and the last round come on top) and what the suite's last complete run took on this host."""
    parts = []
    for size, t in times.items():
        text = f"{size} rounds up to {minutes(t['budget_s'])}"
        if t["last_s"] is not None:
            envs = t["last_environments"] or []
            text += f", last run here {minutes(t['last_s'])} ({fmt.plural(len(envs), 'environment')})"
        parts.append(text)
    return "; ".join(parts)


def minutes(seconds: float) -> str:
    return f"{seconds / 60:.0f} min" if seconds >= 60 else f"{seconds:.0f} s"


def print_tables(data: dict[str, list[dict[str, Any]]]) -> None:
    suites = Table(title="suites")
    for column in ("suite", "workloads", "default environments", "time (full; quick)", "description"):
        suites.add_column(column)
    for s in data["suites"]:
        suites.add_row(s["suite"], str(s["workloads"]), ", ".join(s["environments"]), time_text(s["time"]),
                       s["description"])
    out.print(suites)
    workloads = Table(title="workloads")
    for column in ("workload", "metrics (primary first)", "what it measures", "from"):
        workloads.add_column(column)
    for w in data["workloads"]:
        workloads.add_row(w["workload"], ", ".join(w["metrics"]), w["summary"], w["from"])
    out.print(workloads)
    environments = Table(title="environments")
    for column in ("environment", "variants: available here", "from"):
        environments.add_column(column)
    for e in data["environments"]:
        variants = "\n".join(f"{v}: {here}" for v, here in e["variants"].items())
        environments.add_row(e["environment"] + (f" ({e['note']})" if e["note"] else ""), variants, e["from"])
    out.print(environments)


def print_checks(checks, lines: list[str]) -> None:
    """doctor's checks, a table on a terminal and plain lines otherwise, then its bottom line."""
    colour = {"ok": "green", "warn": "yellow", "fail": "red"}
    if out.is_terminal:
        table = Table(title="vbench doctor")
        for column in ("check", "status", "detail"):
            table.add_column(column)
        for check in checks:
            table.add_row(check.name, f"[{colour[check.status]}]{check.status}[/]", escape(check.detail))
        out.print(table)
    else:
        for check in checks:
            print(f"{check.status:<4}  {check.name}: {check.detail}")
    for line in lines:
        out.print(escape(line))


def print_images(rows: list[dict]) -> None:
    table = Table(title="cached guest images")
    for column in ("recipe hash", "docker tag", "size", "current recipe", "directory"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["hash"], row["tag"], fmt.quantity(row["bytes"], "B"), "yes" if row["current"] else "no",
                      row["dir"])
    out.print(table)
    if not rows:
        out.print("no guest image is built yet: vbench images build")
