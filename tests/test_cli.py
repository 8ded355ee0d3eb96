"""The vbench command through a subprocess: runs, listings, doctor, and one-line errors for bad input."""
from __future__ import annotations

import json
import re
import subprocess

import pytest

from conftest import ROOT, VBENCH, default_sigint


def vbench(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([*VBENCH, *args], capture_output=True, text=True, cwd=cwd or ROOT, timeout=300)


def test_run_writes_results_and_prints_a_summary(tmp_path, tiny_suite):
    done = vbench("run", "--suite", str(tiny_suite), "--output", str(tmp_path / "res"),
                  "--scratch", str(tmp_path / "scratch"), "--seed", "3")
    assert done.returncode == 0, done.stderr
    runs = list((tmp_path / "res").iterdir())
    assert len(runs) == 1 and (runs[0] / "trials.jsonl").is_file()
    assert "tiny suite" in done.stdout and "ETA" in done.stderr  # the summary's first line; the progress bar
    # The run's last screen is the answer; the table of every case is vbench summary's
    assert f"every case's overhead, interval and verdict: vbench summary {runs[0]}" in done.stdout
    assert "overhead vs native" not in done.stdout
    table = vbench("summary", str(runs[0]))
    assert table.returncode == 0 and "overhead vs native" in table.stdout
    assert "sha" in table.stdout and "loop" in table.stdout


def test_list_shows_suites_workloads_and_environments():
    done = vbench("list")  # piped: plain text, no box drawing, nothing cut
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    for line in ("suites:", "  io: Disk I/O", "  cpu.sha256: ", "  io.fio: ", "  native: ", "    usernet: ",
                 "    tap: ", "    c2c-user-bridge: "):
        assert any(shown.startswith(line) for shown in lines), line
    assert not any(c in done.stdout for c in "│┃━") and "``" not in done.stdout
    shown = json.loads(vbench("list", "--format", "json").stdout)
    assert {s["suite"] for s in shown["suites"]} >= {"cpu", "mem", "io", "net", "startup"}
    vm = next(e for e in shown["environments"] if e["environment"] == "vm")
    assert set(vm["variants"]) >= {"virtio", "9p", "tap"} and vm["variants"]["virtio"].split(":")[0] in ("yes", "no")


def test_doctor_reports_every_check():
    done = vbench("doctor")
    assert done.returncode == 0, done.stderr
    for word in ("fio", "O_DIRECT", "docker", "qemu", "accelerator", "env native", "tap network", "CPU governor",
                 "turbo", "SMT", "host is a VM", "free space: scratch"):
        assert word in done.stdout
    lines = done.stdout.splitlines()  # piped: a line per check, its level first, then the bottom line
    assert all(line.split()[0] in ("ok", "warn", "fail") for line in lines if ": " in line and line[:4].strip()
               in ("ok", "warn", "fail"))
    assert any(re.fullmatch(r"\d+ ok, \d+ warnings?, \d+ failures?", line) for line in lines), done.stdout
    assert not re.search(r"/var/tmp/vbench/tmp\w+", done.stdout)  # the probe's temporary path is not shown


@pytest.mark.parametrize("args, message", [
    (["run", "--suite", "nosuch"], "unknown suite"),
    (["run", "--suite", "cpu", "--env", "hyperv"], "unknown environment 'hyperv'"),
    (["run", "--suite", "cpu", "--env", "native:fast"], "unknown variant"),
    (["run", "--suite", "cpu", "--min-rounds", "0"], "min_rounds"),
    (["run", "--suite", "cpu", "--interval", "0"], "--interval"),
    (["run", "--suite", "/nonexistent/suite.toml"], "cannot read suite"),
])
def test_bad_input_gives_one_line_and_exit_1(args, message):
    done = vbench(*args)
    assert done.returncode == 1
    assert message in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_usage_errors_exit_2():
    done = vbench("run", "--suite", "cpu", "--min-rounds", "many")
    assert done.returncode == 2 and "--min-rounds" in done.stderr
    missing = vbench("run")
    assert missing.returncode == 1 and "--suite is required" in missing.stderr


def test_sigint_keeps_finished_trials(tmp_path):
    import signal
    import time

    slow = tmp_path / "slow.toml"
    slow.write_text('name = "slow"\n[plan]\nwarmup_rounds = 0\nmin_rounds = 50\nmax_rounds = 50\n'
                    '[[workload]]\nuse = "cpu.pyloop"\nparams = { seconds = 0.1 }\n')
    proc = subprocess.Popen([*VBENCH, "run", "--suite", str(slow), "--output", str(tmp_path / "res"),
                             "--scratch", str(tmp_path / "scratch")], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint)
    trials = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = list((tmp_path / "res").glob("*/trials.jsonl"))
        if found and len(found[0].read_text().splitlines()) >= 3:
            trials = found[0]
            break
        time.sleep(0.1)
    assert trials is not None, "no trials were written"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr
    import json
    meta = json.loads((trials.parent / "run.json").read_text())
    assert meta["status"] == "interrupted"
    assert len(trials.read_text().splitlines()) >= 3
    assert list((tmp_path / "scratch").iterdir()) == []  # the scratch directory was removed


def test_compare_gates_on_a_significant_regression():
    from conftest import DATA

    base = str(next((DATA / "compare").glob("*-1cbe")))
    again = str(next((DATA / "compare").glob("*-2ff4")))  # the same suite run again: a baseline set of two
    one = vbench("compare", base, base + "-slowed", "--fail-above", "10")  # one run a side cannot gate
    assert one.returncode == 1 and "needs run-to-run variation" in one.stderr and "Traceback" not in one.stderr
    assert len(one.stderr.strip().splitlines()) == 1
    same = vbench("compare", base, again, "--", base, "--fail-above", "5")
    assert same.returncode == 0, same.stderr
    slowed = vbench("compare", base, again, "--", base + "-slowed", "--fail-above", "10")
    assert slowed.returncode == 3, slowed.stderr
    assert "regression" in slowed.stdout and "sha256" in slowed.stderr and "Traceback" not in slowed.stderr
    assert vbench("compare", base, again, "--", base + "-slowed", "--fail-above", "60").returncode == 0


def test_compare_of_a_non_run_is_one_line(tmp_path):
    done = vbench("compare", str(tmp_path), str(tmp_path))
    assert done.returncode == 1 and "not a vbench run" in done.stderr and len(done.stderr.splitlines()) == 1


SIX = """
name = "six"
[plan]
warmup_rounds = 0
min_rounds = 6
max_rounds = 6
[[workload]]
name = "sha"
use = "cpu.sha256"
params = { seconds = 0.05, size = "256k" }
"""


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """Two real runs of a six-round suite with the A/A control on (the default)."""
    base = tmp_path_factory.mktemp("six")
    (base / "six.toml").write_text(SIX)
    outputs = [vbench("run", "--suite", str(base / "six.toml"), "--output", str(base / "res"), "--scratch",
                      str(base / "scratch")) for _ in range(2)]
    return outputs, sorted((base / "res").iterdir())


def test_a_run_measures_the_aa_control_and_writes_its_overhead_table(two_runs):
    import csv
    import json

    (done, _), runs = two_runs
    assert done.returncode == 0, done.stderr
    assert "native:aa" in done.stdout and "A/A noise floor (native:aa vs native" in done.stdout
    rows = list(csv.DictReader((runs[0] / "overheads.csv").open()))
    control = [r for r in rows if r["environment"] == "native:aa" and r["primary"] == "True"]
    assert len(control) == 1 and control[0]["n_pairs"] == "6" and control[0]["method"].startswith("paired")
    as_json = vbench("summary", str(runs[0]), "--format", "json")
    assert as_json.returncode == 0 and {r["environment"] for r in json.loads(as_json.stdout)} == {"native:aa"}
    as_csv = vbench("summary", str(runs[0]), "--format", "csv")
    assert as_csv.stdout.splitlines()[0].startswith("case,metric,unit") and "native:aa" in as_csv.stdout


def test_compare_with_several_runs_a_side_makes_the_run_the_unit(two_runs):
    _, (a, b) = two_runs
    one = vbench("compare", str(a), str(b))
    assert one.returncode == 0 and "run-to-run variation is unknown" in " ".join(one.stdout.split())
    groups = vbench("compare", str(a), str(b), "--", str(a), str(b), "--fail-above", "0")
    assert groups.returncode == 0, groups.stderr
    assert "2/2 runs" in groups.stdout and "run-to-run variation is unknown" not in groups.stdout
    bad = vbench("compare", str(a))
    assert bad.returncode == 2 and "compare takes two runs" in bad.stderr


def test_old_spellings_still_work_and_say_what_replaces_them(capsys):
    from vbench.cli import build_parser

    args = build_parser().parse_args(["run", "--rounds", "3", "--results", "r", "--cpus", "1.5", "--memory", "2g",
                                      "--setup"])
    assert (args.rounds, args.results, args.cpus, args.memory, args.setup) == (3, "r", 1.5, "2g", True)
    assert build_parser().parse_args(["compare", "a", "b", "--html", "c.html"]).html == "c.html"
    said = capsys.readouterr().err
    for old, new in [("--rounds", "--min-rounds"), ("--results", "--output"), ("--cpus", "--container-cpus"),
                     ("--memory", "--container-memory"), ("--setup", "--provision"), ("--html", "--output")]:
        assert f"vbench: {old} is now {new}; the old spelling goes in a later release" in said
    quiet = build_parser().parse_args(["run", "--min-rounds", "3", "-o", "r", "--provision"])
    assert (quiet.rounds, quiet.results, quiet.setup) == (3, "r", True) and capsys.readouterr().err == ""


@pytest.mark.parametrize("command", ["run", "report", "summary", "compare", "clean", "images", "setup", "list",
                                     "doctor"])
def test_every_command_says_what_it_does_with_examples(command, capsys):
    from vbench.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    shown = capsys.readouterr().out
    description = shown.split("\n\n")[1]
    assert description[:1].isupper() and description.rstrip().endswith("."), shown
    assert f"examples:\n  vbench {command}" in shown
    lines = shown.splitlines()
    undocumented = [line for line, after in zip(lines, [*lines[1:], ""])  # an option alone, no help beside or below
                    if line.startswith("  -") and "  " not in line.strip() and not after.startswith(" " * 20)]
    assert not undocumented, undocumented
