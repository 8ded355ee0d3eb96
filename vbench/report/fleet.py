"""The HTML report of a fleet (``vbench run --host``): every host's verdicts side by side, each host's overheads
(a figure per environment, hosts as bars, and a table), what each host is, and a link to each host's own report.
Self-contained like the run's report; every string from a result is escaped by the templates' autoescaping."""
from __future__ import annotations

from pathlib import Path

from vbench import fmt
from vbench.diskspace import write_atomic
from vbench.report import fields, figures, templates
from vbench.report.labels import BASELINE, environment_colors, environment_labels
from vbench.report.verdicts import VERDICT_CLASSES

TEMPLATE = "fleet.html.j2"
MACHINE_FIELDS = ("cpu_model", "cpu_logical", "memory_bytes", "os", "kernel", "hypervisor", "cgroup_version")


def build_fleet_report(directory: str | Path) -> Path:
    """Write ``<fleet>/report.html``; the path written."""
    directory = Path(directory)
    html = templates().get_template(TEMPLATE).render(**fleet_context(directory))
    target = directory / "report.html"
    write_atomic(target, html)
    return target


def fleet_context(directory: Path) -> dict:
    import vbench
    from vbench.claims import evaluate
    from vbench.fleetdir import HOSTS_DIR, read_fleet
    from vbench.store import read_run
    from vbench.summary import overheads

    record = read_fleet(directory)
    hosts, claims, cells, tables = [], {}, {}, {}
    for host in record["hosts"]:
        run = directory / HOSTS_DIR / host["label"]
        entry = {**host, "link": f"{HOSTS_DIR}/{host['label']}/report.html", "machine": machine_cells({}),
                 "ran": False}
        hosts.append(entry)
        if not (run / "run.json").is_file():
            continue
        frame = vbench.load(run)
        entry.update(ran=True, machine=machine_cells(read_run(run).get("host") or {}))
        labels = environment_labels(frame)
        for verdict in evaluate(frame):
            claims.setdefault(verdict.claim_id, {"claim": verdict.claim, "source": verdict.source, "hosts": {}})
            claims[verdict.claim_id]["hosts"][host["host"]] = {
                "verdict": verdict.verdict, "css": VERDICT_CLASSES.get(verdict.verdict, "other"),
                "reason": verdict.reason}
        table = overheads(frame)
        table = table[table["primary"].astype(bool)]
        tables[host["host"]] = table.assign(environment=table["environment"].replace(labels))
        for row in tables[host["host"]].itertuples(index=False):
            cells.setdefault((row.case, row.environment, f"{row.metric} ({row.unit})"), {})[host["host"]] = {
                "overhead": fmt.overhead_pct(row.overhead_pct), "ci": fmt.interval(row.ci_low, row.ci_high),
                "verdict": row.verdict}
    names = [h["host"] for h in hosts if h["ran"]]
    tested = [c for c in claims.values() if any(v["verdict"] != "not run" for v in c["hosts"].values())]
    return {"fleet": record, "hosts": hosts, "names": names, "claims": tested,
            "untested": [c["claim"] for c in claims.values() if c not in tested],
            "rows": [{"case": c, "environment": e, "metric": m, "hosts": v} for (c, e, m), v in cells.items()],
            "figures": _figures(tables, names), "shared": [g for g in record.get("machines", []) if len(g) > 1],
            "machine_fields": [fields.label(key) for key in MACHINE_FIELDS]}


def machine_cells(host: dict) -> list[str]:
    """The host fingerprint's MACHINE_FIELDS as the hosts table shows them (23.5 GiB, yes, -)."""
    return [fields.readable(key, host.get(key)) for key in MACHINE_FIELDS]


def _figures(tables: dict, names: list[str]) -> list[dict]:
    """One figure per environment: its overheads on every host, the hosts as the bars of each case."""
    import pandas as pd

    if not tables:
        return []
    joined = pd.concat([t.assign(host=h) for h, t in tables.items()], ignore_index=True)
    colors = environment_colors([BASELINE, *names])
    out = []
    for env in dict.fromkeys(joined["environment"]):
        part = joined[joined["environment"] == env].assign(environment=lambda f: f["host"])
        drawn = figures.overhead_bars(part, list(dict.fromkeys(part["case"])), names, {n: n for n in names},
                                      colors)
        if drawn:
            out.append({"environment": env, "uri": drawn[0], "symlog": drawn[1]})
    return out
