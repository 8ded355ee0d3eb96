"""Users' pytest-benchmark suites: reading their reports (real 3.x and 5.x files), naming cases, discovery,
and a run of the example suite natively and in a container."""
from __future__ import annotations

import json
import subprocess

import pytest

from conftest import DATA, ROOT, VBENCH
from vbench.errors import VBenchError
from vbench.userbench import case_name, suite_for
from workloads.pytest.benchmark import benchmark_ids, parse_report

REPORTS = DATA / "pytest_benchmark"
EXAMPLES = ROOT / "examples" / "pytest-benchmark"


def test_reads_a_debian_3x_report():
    text = (REPORTS / "report-3.2.2.json").read_text()
    stats = parse_report(text, "examples/pytest-benchmark/test_examples.py::test_sort_records")
    assert stats["version"] == "3.2.2" and stats["rounds"] >= 1 and 0 < stats["min"] <= stats["median"]
    assert len(benchmark_ids(text)) == 6


def test_reads_a_5x_report():
    text = (REPORTS / "report-5.3.1.json").read_text()
    stats = parse_report(text, "test_examples.py::test_sort_records")
    assert stats["version"] == "5.3.1" and stats["ops"] == pytest.approx(1 / stats["mean"])


@pytest.mark.parametrize("text, message", [
    ("{not json", "not JSON"),
    ("[]", "no 'benchmarks' list"),
    ('{"version": "2.1.0", "benchmarks": []}', "version 2.1.0 is not one vbench reads"),
    ('{"version": "9.0.0", "benchmarks": []}', "version 9.0.0"),
    ('{"benchmarks": []}', "version (none)"),
    ('{"version": "5.1.0", "benchmarks": [{"fullname": "t.py::test_a", "stats": {"median": "fast"}}]}',
     "lacks stats"),
    ('{"version": "5.1.0", "benchmarks": [{"fullname": "t.py::test_b", "stats": {}}]}', "no benchmark"),
])
def test_malformed_or_foreign_reports_say_what_is_wrong(text, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_report(text, "t.py::test_a")


def test_case_names_are_valid_and_unique():
    used = {"test_a"}
    assert case_name("t.py::test_a", used) == "test_a-2"
    assert case_name("t.py::test_b[param-<x>]", set()) == "test_b-param-x"
    assert case_name("t.py::" + "x" * 200, set()) == "x" * 56


def test_discovery_finds_the_example_benchmarks():
    suite, root = suite_for(str(EXAMPLES), quick=True)
    assert root == EXAMPLES and len(suite.entries) == 6
    assert {e.workload for e in suite.entries} == {"pytest.benchmark"}
    assert "test_json_roundtrip" in {e.name for e in suite.entries}
    one, _ = suite_for(str(EXAMPLES / "test_examples.py"), quick=True)
    assert len(one.entries) == 6


def test_a_directory_without_benchmarks_is_a_clear_error(tmp_path):
    (tmp_path / "test_plain.py").write_text("def test_nothing():\n    assert True\n")
    with pytest.raises(VBenchError, match="no pytest-benchmark benchmarks"):
        suite_for(str(tmp_path), quick=True)
    with pytest.raises(VBenchError, match="does not exist"):
        suite_for(str(tmp_path / "missing"), quick=True)


def run_examples(tmp_path, env: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    done = subprocess.run([*VBENCH, "run", "--pytest-benchmark", str(EXAMPLES), "--env", env, "--quick", "--no-aa",
                           "--min-rounds", "2", "--max-rounds", "2", "--warmup", "0", "--output", str(tmp_path / "res"),
                           "--scratch", str(tmp_path / "scratch")], cwd=ROOT, capture_output=True, text=True,
                          timeout=900)
    trials = [json.loads(line) for run in (tmp_path / "res").glob("*") for line in
              (run / "trials.jsonl").read_text().splitlines()] if (tmp_path / "res").exists() else []
    return done, trials


def test_example_suite_natively(tmp_path):
    done, trials = run_examples(tmp_path, "native")
    assert done.returncode == 0, done.stderr
    assert len(trials) == 6 * 2 and all(t["status"] == "ok" for t in trials), [t["error"] for t in trials]
    assert all(t["metrics"]["median"]["unit"] == "s" and t["metrics"]["median"]["value"] > 0 for t in trials)
    assert not any(EXAMPLES.glob("**/__pycache__")) and not (EXAMPLES / ".benchmarks").exists()


@pytest.mark.docker
def test_example_suite_in_a_container(tmp_path):
    from conftest import require_environment

    require_environment("docker")
    done, trials = run_examples(tmp_path, "native,docker:volume")
    assert done.returncode == 0, done.stderr
    assert {t["environment"] for t in trials} == {"native", "docker:volume"}
    assert all(t["status"] == "ok" for t in trials), [t["error"] for t in trials if t["status"] != "ok"]
    assert "docker:volume" in done.stdout  # its cost line
    run = next((tmp_path / "res").iterdir())
    table = subprocess.run([*VBENCH, "summary", str(run)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert table.returncode == 0, table.stderr
    for name in ("test_json_roundtrip", "test_numpy_reduction"):
        assert name in table.stdout
