"""vbench compare: two real fixture runs, a labelled artificially slowed copy, and edited copies in tmp_path."""
from __future__ import annotations

import io
import json
import math
import shutil
from pathlib import Path

import pytest
from rich.console import Console

from vbench.compare import (EXIT_REGRESSION, IMPROVEMENT, NO_CHANGE, ONE_RUN_NOTE, REGRESSION, TOO_FEW,
                            compare_runs, exit_code, format_html, format_text, regressions_above)
from vbench.errors import VBenchError
from vbench.store import SCHEMA_VERSION, RunStore, from_record, meta_from

DATA = Path(__file__).resolve().parent / "data" / "compare"
SLOWED = next(DATA.glob("*-slowed"))  # made by make_slowed.py: sha256 throughput / 1.5, not a measurement
BASE = DATA / SLOWED.name.removesuffix("-slowed")
AGAIN = next(p for p in sorted(DATA.glob("2*")) if p not in (BASE, SLOWED))  # the same suite run again, real


def by_case(comparison):
    return {c.case: c for c in comparison.changes}


@pytest.fixture(scope="module")
def slowed():
    return compare_runs(BASE, SLOWED)


def copy_run(source: Path, tmp_path: Path, name: str, keep_cases=None, **meta_changes) -> Path:
    """A copy of ``source`` named ``name``, with only ``keep_cases`` (all when None) and run.json edited."""
    target = tmp_path / name
    shutil.copytree(source, target)
    meta = json.loads((target / "run.json").read_text())
    meta.update(run_id=name, **meta_changes)
    if keep_cases is not None:
        meta["suite"]["entries"] = [e for e in meta["suite"]["entries"] if e["name"] in keep_cases]
        lines = (target / "trials.jsonl").read_text().splitlines()
        kept = [line for line in lines if json.loads(line)["case"] in keep_cases]
        (target / "trials.jsonl").write_text("".join(line + "\n" for line in kept))
    (target / "run.json").write_text(json.dumps(meta))
    return target


def synthetic_run(tmp_path: Path, name: str, values: dict[str, list[float]], note: str | None = None,
                  info: dict | None = None) -> Path:
    """A run written through RunStore with the given primary values per case (higher is better)."""
    meta = {"suite": {"name": "t", "entries": []}, "host": {"cpu_model": "x"}, "status": "complete"}
    store = RunStore.create(tmp_path, name, meta_from({**meta, "note": note} if note else meta))
    for case, case_values in values.items():
        for i, value in enumerate(case_values):
            store.append_trial(from_record({
                "schema_version": SCHEMA_VERSION, "trial_id": f"r{i}-{case}", "round": i, "warmup": False,
                "case": case, "workload": "cpu.sha256", "environment": "native", "env_kind": "native",
                "status": "ok", "primary": "rate", "info": info or {},
                "metrics": {"rate": {"value": value, "unit": "op/s", "higher_is_better": True}}}))
    return store.dir


def test_a_run_against_itself_changes_nothing():
    comparison = compare_runs(BASE, BASE)
    assert {c.case for c in comparison.changes} == {"sha256", "pyloop"}
    for change in comparison.changes:
        assert change.change_pct == 0 and change.median_a == change.median_b
        assert not change.significant and change.verdict == NO_CHANGE
        assert change.n_a == change.n_b == 5  # the warmup trial is left out
    assert comparison.only_a == comparison.only_b == [] and comparison.notes == [ONE_RUN_NOTE]


def test_the_slowed_copy_is_a_significant_50_percent_regression_of_sha256_only(slowed):
    sha, loop = by_case(slowed)["sha256"], by_case(slowed)["pyloop"]
    assert sha.change_pct == pytest.approx(50.0)
    assert sha.median_b == pytest.approx(sha.median_a / 1.5)
    assert 0 < sha.ci_low < 50 < sha.ci_high and sha.p_value < 0.05
    assert sha.significant and sha.verdict == REGRESSION
    assert (sha.metric, sha.unit, sha.environment) == ("throughput", "MiB/s", "native")
    assert loop.change_pct == 0 and not loop.significant and loop.verdict == NO_CHANGE
    assert any("ARTIFICIAL test fixture" in note for note in slowed.notes)  # the copy says what it is


def test_the_other_way_round_it_is_an_improvement():
    sha = by_case(compare_runs(SLOWED, BASE))["sha256"]
    assert sha.change_pct == pytest.approx(100 / 1.5 - 100)
    assert sha.verdict == IMPROVEMENT and sha.ci_high < 0


def test_one_run_a_side_cannot_gate(slowed):
    """Run-to-run variation is unknown with one run a side, so --fail-above refuses rather than fire on it."""
    assert by_case(slowed)["sha256"].verdict == REGRESSION  # the table still says what the trials show
    assert regressions_above(slowed, 10) == []
    with pytest.raises(VBenchError, match="needs run-to-run variation"):
        exit_code(slowed, 10)
    assert exit_code(slowed, None) == 0


def test_regressions_above_a_threshold_against_a_baseline_set_and_the_exit_code():
    gated = compare_runs([BASE, AGAIN], SLOWED)  # two baseline runs, tonight's slowed one
    sha = by_case(gated)["sha256"]
    assert sha.method == "runs" and (sha.runs_a, sha.runs_b) == (2, 1)
    assert [c.case for c in regressions_above(gated, 10)] == ["sha256"] and sha.ci_low > 10
    assert regressions_above(gated, 60) == []
    assert exit_code(gated, 10) == EXIT_REGRESSION == 3
    assert exit_code(gated, 60) == exit_code(gated, None) == 0
    assert regressions_above(compare_runs(SLOWED, [BASE, AGAIN]), -100) == []  # an improvement never is


def test_two_real_runs_of_the_same_suite_match_every_case():
    comparison = compare_runs(BASE, AGAIN)
    assert {c.case for c in comparison.changes} == {"sha256", "pyloop"}
    assert all(math.isfinite(c.change_pct) and c.ci_low <= c.change_pct <= c.ci_high for c in comparison.changes)


def test_a_case_in_only_one_run_is_listed_not_compared(tmp_path):
    partial = copy_run(BASE, tmp_path, "only-sha256", keep_cases={"sha256"})
    forward = compare_runs(BASE, partial)
    assert [c.case for c in forward.changes] == ["sha256"]
    assert forward.only_a == ["pyloop @ native (ops)"] and forward.only_b == []
    backward = compare_runs(partial, BASE)
    assert backward.only_a == [] and backward.only_b == ["pyloop @ native (ops)"]


def test_runs_with_no_case_in_common_are_an_error(tmp_path):
    sha = copy_run(BASE, tmp_path, "sha", keep_cases={"sha256"})
    loop = copy_run(BASE, tmp_path, "loop", keep_cases={"pyloop"})
    with pytest.raises(VBenchError, match="no measured case in common"):
        compare_runs(sha, loop)


def test_different_hosts_are_compared_with_a_note(tmp_path):
    meta = json.loads((BASE / "run.json").read_text())
    host = {**meta["host"], "cpu_model": "AMD EPYC 9654", "kernel": "5.10.0-99"}
    other = copy_run(BASE, tmp_path, "other-host", host=host)
    comparison = compare_runs(BASE, other)
    assert len(comparison.changes) == 2
    [note] = [n for n in comparison.notes if n != ONE_RUN_NOTE]
    assert "hosts differ" in note and "AMD EPYC 9654" in note and "5.10.0-99" in note
    assert meta["host"]["cpu_model"] in note


def test_different_suite_parameters_are_compared_with_a_note(tmp_path):
    meta = json.loads((BASE / "run.json").read_text())
    suite = json.loads(json.dumps(meta["suite"]))
    next(e for e in suite["entries"] if e["name"] == "sha256")["params"]["seconds"] = 2.0
    changed = copy_run(BASE, tmp_path, "longer-sha256", suite=suite)
    comparison = compare_runs(BASE, changed)
    [note] = [n for n in comparison.notes if n != ONE_RUN_NOTE]
    assert note.startswith("sha256: the suites' parameters differ") and "2.0" in note
    assert len(comparison.changes) == 2


def test_a_directory_that_is_not_a_run_is_an_error(tmp_path):
    with pytest.raises(VBenchError, match="not a vbench run"):
        compare_runs(tmp_path, BASE)


def test_a_newer_schema_is_an_error(tmp_path):
    newer = copy_run(BASE, tmp_path, "newer", schema_version=SCHEMA_VERSION + 1)
    with pytest.raises(VBenchError, match="newer than this vbench reads"):
        compare_runs(BASE, newer)


@pytest.mark.parametrize("n", [1, 3])
def test_too_few_trials_to_decide(tmp_path, n):
    a = synthetic_run(tmp_path, "a", {"x": [100.0 + i for i in range(n)]})
    b = synthetic_run(tmp_path, "b", {"x": [200.0 + i for i in range(n)]})
    [change] = compare_runs(a, b).changes
    assert change.change_pct == pytest.approx(-50, abs=1)  # B twice as fast
    assert change.verdict == TOO_FEW and not regressions_above(compare_runs(b, a), 0)


def test_html_is_self_contained_and_escapes_every_string(tmp_path):
    evil = "<script>alert(1)</script>"
    a = synthetic_run(tmp_path, "a", {evil: [10, 11, 12, 13, 14]})
    b = synthetic_run(tmp_path, "b", {evil: [5, 6, 5, 6, 5]}, note="<b>made up</b>")
    page = format_html(compare_runs(a, b))
    assert "<script" not in page.lower() and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;made up&lt;/b&gt;" in page
    assert "http" not in page and "<link" not in page and "src=" not in page
    assert 'class="regression"' in page


def test_text_output_shows_the_table_and_the_notes(slowed, tmp_path):
    console = Console(file=io.StringIO(), width=220, record=True)
    console.print(format_text(slowed))
    text = console.export_text()
    assert "sha256" in text and "+50.0%" in text and "regression" in text and "note: run B: ARTIFICIAL" in text
    odd = synthetic_run(tmp_path, "odd", {"[bold]x[/bold]": [1, 2, 3, 4, 5]})
    console.print(format_text(compare_runs(odd, odd)))
    assert "[bold]x[/bold]" in console.export_text()  # a case name is text, not rich markup


def test_a_case_that_ran_another_operation_in_b_is_left_out_with_why(tmp_path):
    """Run B fell back to buffered psync where run A ran direct libaio: not a regression, another operation."""
    values = {"io": [100.0, 101.0, 99.0, 100.5, 99.5, 100.2]}
    a = synthetic_run(tmp_path, "a", values, info={"ioengine": "libaio", "io_mode": "direct"})
    b = synthetic_run(tmp_path, "b", {**values, "other": [1.0] * 6},
                      info={"ioengine": "psync", "iodepth_effective": 1, "io_mode": "buffered+fsync"})
    same = synthetic_run(tmp_path, "d", values, info={"ioengine": "libaio", "io_mode": "direct"})
    assert [c.case for c in compare_runs(a, same).changes] == ["io"]
    comparison = compare_runs(a, b)
    assert comparison.changes == []
    assert any(n.startswith("io @ native: not comparable: engine libaio vs psync") and "mode direct vs buffered+fsync"
               in n and n.endswith("; left out") for n in comparison.notes), comparison.notes
