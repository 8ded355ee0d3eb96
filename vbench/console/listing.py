"""Listings: suites, workloads and environments (``vbench list``), doctor's checks, the cached guest images."""
from __future__ import annotations

from rich.table import Table

from vbench.console import out


def print_listing() -> None:
    from vbench import catalog, envs
    from vbench.suite import builtin_names, load_suite

    suites = Table(title="suites")
    for column in ("suite", "workloads", "default environments", "description"):
        suites.add_column(column)
    for name in builtin_names():
        suite = load_suite(name)
        suites.add_row(name, str(len(suite.entries)), ", ".join(suite.environments), suite.description)
    out.print(suites)
    workloads = Table(title="workloads")
    for column in ("workload", "metrics (primary first)", "what it measures", "from"):
        workloads.add_column(column)
    for name in catalog.workload_names():
        info = catalog.describe(name)
        metrics = sorted(info.metrics, key=lambda m: m != info.primary)
        workloads.add_row(name, ", ".join(f"{m} ({info.metrics[m][0]})" for m in metrics), info.summary,
                          catalog.origin(name))
    out.print(workloads)
    environments = Table(title="environments")
    for column in ("environment", "variants", "available here", "from"):
        environments.add_column(column)
    for kind in envs.kinds():
        cls = envs.env_class(kind)
        availability = cls.available()
        here = "yes" if availability.ok else f"no: {availability.reason}"
        if availability.ok and cls.available_variant.__func__ is not envs.Environment.available_variant.__func__:
            missing = [(v, cls.available_variant(v)) for v in cls.variants]
            here += "".join(f"; {v} no: {a.reason}" for v, a in missing if not a.ok)
        environments.add_row(kind, ", ".join(cls.variants) or "-", here, envs.origin(kind))
    out.print(environments)


def print_checks(checks) -> None:
    table = Table(title="vbench doctor")
    for column in ("check", "status", "detail"):
        table.add_column(column)
    for check in checks:
        table.add_row(check.name, "[green]ok[/]" if check.ok else "[red]no[/]", check.detail)
    out.print(table)


def print_images(rows: list[dict]) -> None:
    table = Table(title="cached guest images")
    for column in ("recipe hash", "docker tag", "size", "current recipe", "directory"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["hash"], row["tag"], f"{row['bytes'] / 2**20:.0f} MiB", "yes" if row["current"] else "no",
                      row["dir"])
    out.print(table)
    if not rows:
        out.print("no guest image is built yet: vbench images build")
