"""The summary a finished run prints: the overhead table, the A/A floor, failures, flags and I/O modes."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from vbench import fmt
from vbench.store import status_text
from vbench.console import out
from vbench.model import BASELINE, EMULATION_SUFFIX
from vbench.report.labels import emulated_environments


def print_summary(run_dir: Path, frame=None, table=None, full_table: bool = True) -> None:
    """The overhead of every environment against native on each case's primary metric (a view of the run's
    overhead table, ``vbench.summary``), then the answer. Without ``full_table`` (the end of a run: its last
    screen is the answer) the table is left to ``vbench summary``, and a line says so."""
    import vbench
    from vbench import summary

    frame = vbench.load(run_dir) if frame is None else frame
    table = summary.overheads(frame) if table is None else table
    meta = frame.attrs["run"]
    rounds = meta.get("rounds", {})
    out.print(f"[bold]{meta['suite']['name']}[/] suite, run {meta['run_id']}: "
              f"{fmt.plural(rounds.get('done'), 'measured round')} (planned at least {rounds.get('planned_min')}, "
              f"cap {rounds.get('max')}); "
              f"stopped: {rounds.get('stop_reason') or status_text(meta)}")
    for label, reason in meta.get("skipped_environments", {}).items():
        out.print(f"skipped {label}: {reason}")
    for label, fp in meta.get("env_fingerprints", {}).items():
        if fp.get("accelerator"):
            out.print(f"{label}: accelerator {fp['accelerator']} ({fp.get('accelerator_reason')}); "
                      f"boot {fmt.quantity(fp.get('boot_s'), 's')}")
    primary = frame[frame["primary"]]
    table = table[table["primary"].astype(bool)]
    emulated = emulated_environments(frame)
    view = Table(title="overhead vs native (primary metric; positive = slower; paired by round)", show_lines=False)
    for column in ("case", "environment", "metric", "native", "env", "overhead", "95% CI", "p", "pairs", "verdict"):
        view.add_column(column, justify="right" if column in ("native", "env", "overhead", "pairs", "p") else "left")
    for row in table.itertuples(index=False):
        environment = row.environment + (EMULATION_SUFFIX if row.environment in emulated else "")
        view.add_row(row.case, environment, str(row.metric),
                     fmt.quantity(row.baseline_median, row.unit), fmt.quantity(row.env_median, row.unit),
                     fmt.signed_pct(row.overhead_pct),
                     fmt.signed_interval(row.ci_low, row.ci_high), fmt.sig(row.p_value, 3), _pairs(row), row.verdict)
    if table.empty:
        from vbench.stats import measured

        baseline = measured(primary)
        for (case, metric, unit), group in baseline.groupby(["case", "metric", "unit"]):
            median = fmt.quantity(group["value"].median(), unit)
            view.add_row(case, BASELINE, str(metric), median, "", "", "", "", str(len(group)),
                         "baseline only")
    if full_table:
        out.print(view)
    else:
        out.print(f"every case's overhead, interval and verdict: vbench summary {escape(str(run_dir))}")
    for line in (summary.aa_floor_line(table), widened_line(table)):
        if line:
            out.print(line)
    failed = frame[(frame["status"] != "ok")].drop_duplicates("trial_id")
    for (case, environment, status), group in failed.groupby(["case", "environment", "status"]):
        error = str(group["error"].iloc[0] or "")
        out.print(f"[yellow]{len(group)} {status}[/] {escape(case)} @ {escape(environment)}: {escape(error)}")
    flagged = frame[frame["flags"].str.len() > 0].drop_duplicates("trial_id")
    if len(flagged):
        counts = Counter(flag for flags in flagged["flags"] for flag in flags.split(",") if flag)
        out.print(f"{fmt.plural(len(flagged), 'trial')} flagged (all kept in the analysis): "
                  + ", ".join(flag_count(flag, n, flagged) for flag, n in sorted(counts.items())))
    for line in io_mode_lines(frame):
        out.print(line)
    for line in answer_lines(frame, table, emulated):
        out.print(line)
    out.print(f"results: {run_dir}")


def answer_lines(frame, table, emulated: set[str]) -> list[str]:
    """The answer, last: what each environment costs here (one line each) and what each claim came to."""
    from vbench import claims, summary
    from vbench.model import AA_CONTROL

    lines = []
    costs = table[(table["environment"] != AA_CONTROL)] if len(table) else table
    if len(costs):
        lines.append("What each environment costs here (primary metrics; slower or faster: its 95% CI clear of 0):")
        for environment, rows in costs.groupby("environment", sort=True):
            label = environment + (EMULATION_SUFFIX if environment in emulated else "")
            lines.append(f"  {escape(label)}: {summary.cost_text(rows)}")
    verdicts = claims.evaluate(frame)
    if verdicts:
        lines.append("Claims (the report gives each one's figures and test):")
        lines += [f"  {escape(line)}" for line in claim_lines(verdicts)]
    return lines


def claim_lines(verdicts) -> list[str]:
    """A line per decided claim (its verdict, its cases' tally, the largest overhead); the claims that ran under
    emulation and those this run could not test, a line each."""
    from vbench import claims

    lines, emulation, not_run = [], [], []
    for v in verdicts:
        if v.verdict == claims.EMULATION:
            emulation.append(v.claim_id)
        elif v.verdict == claims.NOT_RUN:
            not_run.append(v.claim_id)
        else:
            lines.append(f"{v.verdict:<12}  {v.claim_id}: {claim_tally(v)}")
    if emulation:
        lines.append(f"{claims.EMULATION:<12}  {', '.join(emulation)}: the VM ran under TCG software emulation, "
                     "which is not the hardware virtualization these claims are about")
    if not_run:
        lines.append(f"{claims.NOT_RUN:<12}  {', '.join(not_run)}: their cases or environments are not in this run")
    return lines


def claim_tally(v) -> str:
    """A decided claim's cases: how many each way, and the largest overhead with its interval."""
    cases = [c for c in v.cases if c.get("overhead_pct") is not None and c["overhead_pct"] == c["overhead_pct"]]
    counts = Counter(c.get("verdict") for c in v.cases)
    tally = ", ".join(f"{n} {verdict}" for verdict, n in counts.items())
    if not cases:
        return tally or v.reason
    worst = max(cases, key=lambda c: c["overhead_pct"])
    return (f"{tally}; largest {worst['case']} @ {worst['environment']} {fmt.signed_pct(worst['overhead_pct'])} "
            f"{fmt.signed_interval(worst['ci_low'], worst['ci_high'])}")


def flag_count(flag: str, n: int, flagged) -> str:
    """"host-disturbed 12 (disk 9, cpu 3)": a flag's count, and for host-disturbed the resources it was for."""
    from vbench.validity import resource_counts

    if flag != "host-disturbed" or "disturbed_by" not in flagged:
        return f"{flag} {n}"
    by = resource_counts(flagged["disturbed_by"])
    return f"{flag} {n} ({by})" if by else f"{flag} {n}"


def io_mode_lines(frame) -> list[str]:
    """One line per end-to-end I/O mode with the environments that ran in it; the host path each environment
    has is the report's method section (naming it here made one line of every host's words)."""
    from vbench.validity import effective_mode

    modes: dict[str, set[str]] = {}
    for io_mode, environment in frame[["io_mode", "environment"]].dropna().drop_duplicates().itertuples(index=False):
        modes.setdefault(effective_mode(io_mode) or io_mode, set()).add(environment)
    if not modes:
        return []
    return ["I/O modes (host paths: the report's method section):",
            *(f"  {escape(mode)}: {escape(', '.join(sorted(envs)))}" for mode, envs in sorted(modes.items()))]


def _pairs(row) -> str:
    """How many pairs decided the row; for an unpaired comparison, the trials on each side."""
    from vbench import stats  # numpy: not at the console's import, which every command pays

    return stats.pairs_text(row)


def widened_line(table) -> str | None:
    """How many rows had their interval widened, and for what (the method column says which)."""
    if "method" not in table or table.empty:
        return None
    methods = table["method"].astype(str)
    lag1 = int(methods.str.contains("serial correlation").sum())
    offsets = int(methods.str.contains("A/A offsets").sum())
    if not lag1 and not offsets:
        return None
    parts = [f"{n} for {why}" for n, why in ((lag1, "serial correlation of their rounds (lag-1)"),
                                             (offsets, "the A/A control's offsets")) if n]
    widened = int(methods.str.contains("widened").sum())
    return f"{widened} of {fmt.plural(len(table), 'interval')} widened: " + ", ".join(parts)
