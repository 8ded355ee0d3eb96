"""A fleet run on the console: one progress bar per host while it runs (one line per change in a log), then the
primary overheads of every host side by side."""
from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from vbench import fmt
from vbench.console import err, out


class FleetProgress:
    """Every host's trials done of planned, and what it is doing, in one display on stderr."""

    def __init__(self):
        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), console=err, transient=False)
        self._tasks: dict[str, int] = {}
        self._said: dict[str, str] = {}

    def note(self, text: str) -> None:
        err.print(f"vbench: {escape(text)}", highlight=False)

    def start(self, fleet) -> None:
        for group in fleet.machines():
            if len(group) > 1:
                names = ", ".join(s.host.text for s in group)
                self.note(f"{names} reach one machine (boot id {group[0].boot_id[:8]}): they run one after the "
                          "other, never at once")
        self._bar.start()
        for state in fleet.states:
            self._tasks[state.host.label] = self._bar.add_task(state.host.text, total=None)

    def tick(self, fleet) -> None:
        for state in fleet.states:
            what = state.doing if state.status == "running" else state.said
            self._bar.update(self._tasks[state.host.label], completed=state.done, total=state.planned or None,
                             description=f"{state.host.text}: {what}"[:70])
            line = f"{state.host.text}: {state.said}"
            if not err.is_terminal and self._said.get(state.host.label) != line:
                self._said[state.host.label] = line
                err.print(f"{line} ({state.done}/{state.planned or '?'} trials)", markup=False, highlight=False)

    def stop(self, fleet) -> None:
        self.tick(fleet)
        self._bar.stop()


def print_fleet_summary(directory: Path) -> None:
    """The primary metric's overhead and verdict of every case and environment, one column per host."""
    import vbench
    from vbench.fleetdir import HOSTS_DIR, read_fleet
    from vbench.summary import write_overheads

    record = read_fleet(directory)
    columns, rows = [], {}
    for host in record["hosts"]:
        run = Path(directory) / HOSTS_DIR / host["label"]
        if not (run / "run.json").is_file():
            continue
        table = write_overheads(run, vbench.load(run))
        columns.append(host["host"])
        for row in table[table["primary"].astype(bool)].itertuples(index=False):
            cell = f"{fmt.signed_pct(row.overhead_pct)} {fmt.signed_interval(row.ci_low, row.ci_high)} {row.verdict}"
            rows.setdefault((row.case, row.environment, row.metric), {})[host["host"]] = cell
    view = Table(title=f"fleet {record['fleet_id']}: overhead vs native per host (primary metric)")
    for column in ("case", "environment", "metric", *columns):
        view.add_column(column)
    for (case, environment, metric), cells in rows.items():
        view.add_row(case, environment, metric, *(cells.get(c, "-") for c in columns))
    out.print(view)
    for host in record["hosts"]:
        said = host["status"] + (f": {host['reason']}" if host.get("reason") else "")
        out.print(f"{host['host']}: {said} ({fmt.plural(host['trials'], 'trial')}; build {host['build']}; results "
                  f"{Path(directory) / HOSTS_DIR / host['label']})")
    shared = [group for group in record.get("machines", []) if len(group) > 1]
    for group in shared:
        out.print(f"{', '.join(group)} are one machine: they ran one after the other")
