"""Malformed and hostile input through the real CLI: exit 1 and one line "vbench: error: ..." for what a user can
get wrong, exit 2 and argparse's usage for a malformed command line, and never a traceback.

The corpus is tests/data/bad (see its README.md): every suite file there says in its first two lines what it tests
and which error it must give; the runs, files and command lines are listed below. No case may reach a trial:
suite cases also pass an --output that is a file, so a suite the validation let through fails on that instead of
running. The commands run concurrently (each is a fresh interpreter) to keep the module fast.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import DATA, ROOT, VBENCH

BAD = DATA / "bad"
SUITES = BAD / "suites"
RUNS = BAD / "runs"
NOT_A_DIR = "tests/data/bad/results-is-a-file"
GOOD_RUN = "tests/data/runs/small"
TMP = "{tmp}"  # replaced by a fresh temporary directory


@dataclass(frozen=True)
class Case:
    id: str
    argv: tuple[str, ...]
    message: str = ""  # a fragment of the one error line (exit 1)
    code: int = 1


def rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def expectation(path: Path) -> str | None:
    match = re.search(rb"^# expect: (.*)$", path.read_bytes()[:1000], re.M)
    return match.group(1).decode() if match else None


# Suite files that cannot carry a comment: their expected error (README.md says what each tests).
UNCOMMENTED = {
    "empty.toml": "name: required",
    "binary.toml": "codec can't decode",
    "directory.toml": "not a regular file",
}


def suite_cases() -> list[Case]:
    cases = []
    for path in sorted(SUITES.iterdir()):
        message = UNCOMMENTED.get(path.name) or expectation(path)
        cases.append(Case(f"suite-{path.stem}", ("run", "--suite", rel(path), "--output", NOT_A_DIR), message or "?"))
    return cases


def run_args(*args: str) -> tuple[str, ...]:
    return ("run", "--suite", "cpu", *args, "--output", NOT_A_DIR)


COMMAND_LINE = [
    Case("env-subshell", run_args("--env", "$(rm -rf /)"), "--env: unknown environment '$(rm -rf /)'"),
    Case("env-semicolon", run_args("--env", "native; ls"), "unknown environment 'native; ls'"),
    Case("env-html", run_args("--env", "<script>alert(1)</script>"), "unknown environment '<script>alert(1)</script>'"),
    Case("env-variant-subshell", run_args("--env", "docker:$(id)"), "unknown variant '$(id)'"),
    Case("env-newline", run_args("--env", "native\nvm"), "unknown environment 'native\\nvm'"),
    Case("env-terminal-escape", run_args("--env", "\x1b[31mred"), "unknown environment '\\x1b[31mred'"),
    Case("env-unknown-in-list", run_args("--env", "native,hyperv"), "unknown environment 'hyperv'"),
    Case("env-only-commas", run_args("--env", ",,"), "--env: name at least one environment"),
    Case("env-empty", run_args("--env", ""), "--env: name at least one environment"),  # not the suite's default
    Case("env-one-comma", run_args("--env", ","), "--env: name at least one environment"),
    Case("suite-name-subshell", ("run", "--suite", "$(rm -rf /)"), "unknown suite '$(rm -rf /)'"),
    Case("suite-name-semicolon", ("run", "--suite", "; ls"), "unknown suite '; ls'"),
    Case("suite-name-html", ("run", "--suite", "<script>alert(1)</script>"), "unknown suite"),
    Case("suite-path-newline", ("run", "--suite", "no\nsuch.toml"), "cannot read suite no\\nsuch.toml"),
    Case("suite-path-directory", ("run", "--suite", "tests/data/bad"), "not a regular file"),
    Case("suite-path-device", ("run", "--suite", "/dev/zero"), "not a regular file"),
    Case("rounds-10e12", run_args("--min-rounds", str(10**12)), "min_rounds: expected an integer from 1 to 10000"),
    Case("rounds-negative", run_args("--min-rounds", "-3"), "min_rounds: expected an integer"),
    Case("max-rounds-zero", run_args("--max-rounds", "0"), "max_rounds: expected an integer"),
    Case("warmup-negative", run_args("--warmup", "-1"), "warmup_rounds: expected an integer"),
    Case("timeout-negative", run_args("--timeout", "-5"), "timeout_s: expected a positive number"),
    Case("timeout-nan", run_args("--timeout", "nan"), "timeout_s: expected a positive number"),
    Case("timeout-inf", run_args("--timeout", "inf"), "timeout_s: expected a positive number"),
    Case("ci-target-nan", run_args("--ci-target", "nan"), "ci_target_pct: expected a positive number"),
    Case("time-budget-minus-inf", run_args("--time-budget=-inf"), "time_budget_s: expected a positive number"),
    Case("interval-nan", run_args("--interval", "nan"), "--interval: nan must be above 0"),
    Case("interval-inf", run_args("--interval", "inf"), "--interval: inf must be above 0"),
    Case("seed-negative", run_args("--seed", "-1"), "seed: expected an integer from 0"),
    Case("seed-huge", run_args("--seed", str(10**30)), "seed: expected an integer from 0"),
    Case("cpus-nan", run_args("--container-cpus", "nan"), "--container-cpus: nan must be above 0"),
    Case("vcpus-zero", run_args("--vcpus", "0"), "--vcpus: 0 must be from 1 to 64"),
    Case("vm-disk-size", run_args("--vm-disk-size", "16 GB"), "--vm-disk-size: '16 GB' is not a size such as 16G"),
    Case("ssh-config-alone", run_args("--ssh-config", "x"), "--ssh-config and --provision go with --host"),
    Case("host-twice", run_args("--host", "local", "--host", "local"), "--host 'local' is named twice"),
    Case("host-port", run_args("--host", "b:99999"), "the port must be a number from 1 to 65535"),
    Case("host-ssh-config-missing", run_args("--host", "b", "--ssh-config", "/no/such/config"),
         "--ssh-config: /no/such/config is not a file"),
    Case("vm-memory-huge", run_args("--vm-memory", str(10**11)), "--vm-memory"),
    Case("results-is-a-file", ("run", "--suite", "cpu", "--env", "native", "-o", NOT_A_DIR),
         "--output: tests/data/bad/results-is-a-file is not a directory"),
    Case("suite-missing", ("run",), "--suite is required"),
    Case("resume-and-suite", ("run", "--resume", GOOD_RUN, "--suite", "cpu"), "drop --suite"),
    Case("resume-not-a-run", ("run", "--resume", "tests/data/bad/runs/not-a-run"), "not a vbench run"),
    Case("resume-a-file", ("run", "--resume", NOT_A_DIR), "not a vbench run"),
    Case("resume-nothing", ("run", "--resume", "no-such-run"), "not a vbench run"),
    Case("resume-run-json-list", ("run", "--resume", "tests/data/bad/runs/run-json-list"), "not a vbench run file"),
    Case("resume-run-json-newer", ("run", "--resume", "tests/data/bad/runs/run-json-newer"), "upgrade vbench"),
    Case("resume-complete", ("run", "--resume", "tests/data/bad/runs/resume-complete"), "already complete"),
    Case("resume-broken-suite", ("run", "--resume", "tests/data/bad/runs/resume-broken-suite"),
         "run.json: suite: not a suite as vbench records it"),
    Case("resume-suite-bad-plan", ("run", "--resume", "tests/data/bad/runs/resume-suite-bad-plan"),
         "run.json: suite.plan.min_rounds: expected an integer"),
    Case("resume-unknown-environment", ("run", "--resume", "tests/data/bad/runs/resume-unknown-environment"),
         "unknown environment 'hyperv'"),
    Case("report-output-missing-dir", ("report", GOOD_RUN, "-o", "/nonexistent/dir/report.html"),
         "-o/--output: cannot write /nonexistent/dir/report.html: /nonexistent/dir is not a directory"),
    Case("report-output-is-dir", ("report", GOOD_RUN, "-o", TMP), "it is a directory"),
    Case("compare-html-missing-dir", ("compare", GOOD_RUN, GOOD_RUN, "-o", "/nonexistent/dir/c.html"),
         "-o/--output: cannot write"),
    Case("compare-fail-above-nan", ("compare", GOOD_RUN, GOOD_RUN, "--fail-above", "nan"), "--fail-above: nan"),
    Case("compare-fail-above-negative", ("compare", GOOD_RUN, GOOD_RUN, "--fail-above", "-5"), "--fail-above: -5"),
]

# What `vbench report` on each directory of tests/data/bad/runs must say (README.md says what each holds).
REPORTED = {
    "not-a-run": "is not a vbench run (no run.json)",
    "run-json-is-dir": "is not a vbench run (no run.json)",
    "run-json-not-json": "run.json: Expecting value",
    "run-json-truncated": "run.json: Expecting",
    "run-json-empty": "run.json: Expecting value",
    "run-json-binary": "codec can't decode",
    "run-json-list": "not a vbench run file (a JSON list, not an object)",
    "run-json-string": "not a vbench run file (a JSON str, not an object)",
    "run-json-newer": "schema version 99 is newer than this vbench reads (2); upgrade vbench",
    "run-json-older": "schema version 0 is older than this vbench reads (2) and no migration exists; re-run",
    "run-json-no-version": "no schema_version; not a vbench result",
    "run-json-version-string": "schema_version '1' is not an integer",
    "run-json-deep": "nested too deeply",
    "trials-corrupt-middle": "trials.jsonl: line 2 is not valid JSON",
    "trials-binary-middle": "trials.jsonl: line 2 is not valid JSON",
    "trials-line-list": "trials.jsonl: line 2: not a trial record (a JSON list, not an object)",
    "trials-line-missing-fields": "trials.jsonl: line 2: not a trial record (no trial_id, round",
    "trials-newer-version": "trials.jsonl: line 2: schema version 99 is newer than this vbench reads",
    "trials-wrong-types": "trials.jsonl: trial 'w001-sha256@native' is malformed",
}
RESUMED = {"resume-complete", "resume-broken-suite", "resume-suite-bad-plan", "resume-unknown-environment"}
COMPARED = ["not-a-run", "run-json-not-json", "run-json-list", "run-json-newer", "trials-corrupt-middle"]

RUN_CASES = (
    [Case(f"report-{name}", ("report", f"tests/data/bad/runs/{name}", "-o", f"{TMP}/report.html"), message)
     for name, message in REPORTED.items()]
    + [Case(f"compare-with-{name}", ("compare", GOOD_RUN, f"tests/data/bad/runs/{name}"), REPORTED[name])
       for name in COMPARED]
    + [Case("compare-from-run-json-older", ("compare", "tests/data/bad/runs/run-json-older", GOOD_RUN),
            REPORTED["run-json-older"])]
)

USAGE = [
    Case("usage-no-command", (), code=2),
    Case("usage-unknown-command", ("destroy",), code=2),
    Case("usage-unknown-option", ("run", "--suite", "cpu", "--rm-rf"), code=2),
    Case("usage-rounds-word", ("run", "--suite", "cpu", "--min-rounds", "many"), code=2),
    Case("usage-seed-float", ("run", "--suite", "cpu", "--seed", "1.5"), code=2),
    Case("usage-timeout-missing-value", ("run", "--suite", "cpu", "--timeout"), code=2),
    Case("usage-accel-unknown", ("run", "--suite", "cpu", "--accel", "hyperv"), code=2),
    Case("usage-report-no-run", ("report",), code=2),
    Case("usage-compare-one-run", ("compare", GOOD_RUN), code=2),
    Case("usage-images-unknown-action", ("images", "destroy"), code=2),
]

CASES = suite_cases() + COMMAND_LINE + RUN_CASES + USAGE


@pytest.fixture(scope="module")
def outcomes() -> dict[str, subprocess.CompletedProcess]:
    """Every case's finished command, run concurrently."""
    with tempfile.TemporaryDirectory() as tmp:
        def execute(case: Case) -> subprocess.CompletedProcess:
            argv = [arg.replace(TMP, tmp) for arg in case.argv]
            return subprocess.run([*VBENCH, *argv], cwd=ROOT, capture_output=True, text=True, timeout=60)

        with ThreadPoolExecutor(max_workers=min(8, 2 * (os.cpu_count() or 1))) as pool:
            done = dict(zip((c.id for c in CASES), pool.map(execute, CASES)))
        assert not os.listdir(tmp), "a bad input produced output"
    return done


@pytest.mark.parametrize("case", [c for c in CASES if c.code == 1], ids=lambda c: c.id)
def test_user_error_is_one_line_and_exit_1(case, outcomes):
    done = outcomes[case.id]
    assert "Traceback" not in done.stderr + done.stdout
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vbench: error: "), done.stderr
    assert case.message in lines[0]
    assert done.stdout == ""


@pytest.mark.parametrize("case", USAGE, ids=lambda c: c.id)
def test_malformed_command_line_is_usage_and_exit_2(case, outcomes):
    done = outcomes[case.id]
    assert "Traceback" not in done.stderr + done.stdout
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith("usage: vbench")
    assert re.match(r"^vbench( \w+)?: error: ", lines[-1]), done.stderr
    assert done.stdout == ""


def test_every_corpus_file_is_described_and_used():
    """A file added to tests/data/bad without saying what it tests, or without a case, is a mistake."""
    readme = (BAD / "README.md").read_text()
    for path in SUITES.iterdir():
        described = path.name in UNCOMMENTED or (path.is_file() and expectation(path) is not None)
        assert described, f"{path.name}: no '# expect:' line and not in UNCOMMENTED"
        if path.name in UNCOMMENTED:
            assert f"`suites/{path.name}`" in readme, f"{path.name} is not described in README.md"
        else:
            assert path.read_bytes().startswith(b"# "), f"{path.name}: the first line should say what it tests"
    for path in RUNS.iterdir():
        assert path.name in REPORTED or path.name in RESUMED, f"runs/{path.name} is used by no case"
        assert f"`runs/{path.name}`" in readme, f"runs/{path.name} is not described in README.md"
    assert "`results-is-a-file`" in readme


# The two suites of the issue that brought in declared rules: each used to run (every trial "failed" and exit 0,
# or the first trial hung for minutes). Run here with a real results and scratch directory: nothing may appear.
REFUSED_BEFORE_RUNNING = {"param-rw-shell.toml": "workload[0].params.rw",
                          "param-iodepth-huge.toml": "workload[0].params.iodepth"}


@pytest.mark.parametrize("name, field", REFUSED_BEFORE_RUNNING.items())
def test_a_value_the_workload_refuses_stops_the_run_before_it_starts(name, field, tmp_path):
    results, scratch = tmp_path / "results", tmp_path / "scratch"
    results.mkdir()
    scratch.mkdir()
    done = subprocess.run([*VBENCH, "run", "--suite", str(SUITES / name), "--env", "native", "--output",
                           str(results), "--scratch", str(scratch)], cwd=ROOT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("vbench: error: ") and f"{name}: {field}: " in lines[0]
    assert list(results.iterdir()) == [] and list(scratch.iterdir()) == []
