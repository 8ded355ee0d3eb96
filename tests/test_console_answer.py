"""The run's last screen leads with the answer: what each environment costs (a line each) and what each claim came
to, on the recorded run and on fixed verdicts."""
from __future__ import annotations

import math

import pandas as pd

import vbench
from conftest import DATA
from vbench import summary
from vbench.claims import EMULATION, HOLDS, INCONCLUSIVE, NOT_RUN, REFUTED, Verdict
from vbench.console.summary import answer_lines, claim_lines
from vbench.summary import cost_text


def test_the_recorded_run_ends_with_each_environments_cost_and_the_claims():
    frame = vbench.load(DATA / "runs" / "small")
    table = summary.overheads(frame)
    lines = answer_lines(frame, table[table["primary"].astype(bool)], set())
    assert lines[0].startswith("What each environment costs here")
    assert lines[1] == ("  docker:volume: median -19.7% over 3 cases, from -90.9% to +1.7%; 0 slower, 0 faster, "
                        "0 with no detectable difference, 3 without an interval (too few pairs)")
    assert lines[2].startswith("Claims")
    assert lines[3].startswith("  inconclusive  container-cpu-free: 2 inconclusive; largest sha256 @ docker:volume")
    assert lines[4].startswith("  not run       vm-cpu-1pct, ")


def test_a_cost_counts_cases_by_where_their_interval_lies():
    rows = pd.DataFrame({"overhead_pct": [5.0, -4.0, 1.0, 2.0, math.nan],
                         "ci_low": [2.0, -6.0, -1.0, math.nan, math.nan],
                         "ci_high": [8.0, -1.0, 3.0, math.nan, math.nan]})
    assert cost_text(rows) == ("median +1.5% over 4 cases, from -4.0% to +5.0%; 1 slower, 1 faster, 1 with no "
                               "detectable difference, 1 without an interval (too few pairs); 1 not comparable")
    assert cost_text(rows.iloc[4:]) == "no case compared (1 not comparable)"


def test_claims_read_one_line_each_with_emulation_and_not_run_gathered():
    def case(env: str, overhead: float, verdict: str) -> dict:
        return {"case": "seq-read", "environment": env, "overhead_pct": overhead, "ci_low": overhead - 1,
                "ci_high": overhead + 1, "verdict": verdict}

    verdicts = [Verdict("a", "A", "s", HOLDS, "r", (case("docker:volume", 0.5, HOLDS),)),
                Verdict("b", "B", "s", REFUTED, "r", (case("docker:layer", -3.0, REFUTED),
                                                      case("docker:layer", 9.0, INCONCLUSIVE))),
                Verdict("c", "C", "s", EMULATION, "r"), Verdict("d", "D", "s", EMULATION, "r"),
                Verdict("e", "E", "s", NOT_RUN, "r")]
    assert claim_lines(verdicts) == [
        "holds         a: 1 holds; largest seq-read @ docker:volume +0.5% [-0.5%, +1.5%]",
        "refuted       b: 1 refuted, 1 inconclusive; largest seq-read @ docker:layer +9.0% [+8.0%, +10.0%]",
        "emulation     c, d: the VM ran under TCG software emulation, which is not the hardware virtualization "
        "these claims are about",
        "not run       e: their cases or environments are not in this run"]


def test_the_reports_first_block_is_the_same_answer_with_its_forest_plot():
    from vbench.report.context import answer
    from vbench.report.figures import forest
    from vbench.report.labels import case_order, environment_colors, environment_labels, environment_order

    frame = vbench.load(DATA / "runs" / "small")
    table = summary.overheads(frame)
    table = table[table["primary"].astype(bool)]
    labels, envs = environment_labels(frame), environment_order(frame)
    block = answer(table, envs, case_order(frame), labels, environment_colors(envs))
    assert block["costs"] == [{"environment": "docker:volume", "cost": summary.cost_text(
        table[table["environment"] == "docker:volume"])}]
    assert block["floor"] is None  # this run had no A/A control
    assert block["figure"].startswith("data:image/svg+xml;base64,")
    nothing = table.assign(overhead_pct=math.nan)  # no comparable case: no plot, rather than an empty one
    assert forest(nothing, case_order(frame), envs, labels, environment_colors(envs), None) is None
