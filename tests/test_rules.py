"""Declared parameter rules (workloads/rules.py): the rules themselves, every workload's declarations, and the
runner refusing what they refuse before a workload starts, with the stdlib only as in a guest."""
from __future__ import annotations

import importlib
import json
import math
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT
from vbench import catalog
from workloads.rules import Choice, Flag, Number, Size, Text, check, check_workload

RUNNER = ROOT / "workloads" / "run.py"
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")
GUEST_PYTHON = [SYSTEM_PYTHON, "-S"] if SYSTEM_PYTHON else [sys.executable]  # the stdlib only, like a guest


def module(name: str):
    return importlib.import_module(f"workloads.{name}")


# --- every workload's declarations ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", catalog.workload_names())
def test_every_parameter_has_a_rule_its_default_keeps(name):
    workload = module(name)
    assert set(workload.RULES) == set(workload.PARAMS), "a rule for every parameter, and no other"
    for key, default in workload.PARAMS.items():
        assert workload.RULES[key].problem(default) is None, f"{name}: the default {key}={default!r} breaks its rule"


@pytest.mark.parametrize("name", [n for n in catalog.workload_names() if n != "pytest.benchmark"])
def test_the_defaults_pass_the_whole_check(name):
    """pytest.benchmark is left out: its default nodeid "" stands for "none given", which check_params refuses."""
    workload = module(name)
    assert check_workload(workload, dict(workload.PARAMS)) == workload.PARAMS


# --- the rules ------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("rule, value, phrase", [
    (Choice(("a", "b")), "c", "'c' is not one of a, b"),
    (Choice(("a", "b")), 1, "expected a string, got 1"),
    (Number(1, 10, integer=True), 2.0, "expected an integer, got 2.0"),
    (Number(1, 10, integer=True), True, "expected an integer, got True"),
    (Number(0.5, 10), "5", "expected a number, got '5'"),
    (Number(0.5, 10), math.nan, "nan is out of range (0.5 to 10)"),
    (Number(0.5, 10), math.inf, "inf is out of range (0.5 to 10)"),
    (Number(0, 65535, integer=True), 65536, "65536 is out of range (0 to 65535)"),
    (Size(512, 64 << 20), "128M", "'128M' is out of range (512 to 64M)"),
    (Size(512, 64 << 20), "256", "'256' is out of range (512 to 64M)"),
    (Size(512, 64 << 20), "lots", "not a size: 'lots'"),
    (Size(512, 64 << 20), 4096, "expected a string such as '64M', got 4096"),
    (Flag(), "yes", "expected true or false, got 'yes'"),
    (Text("a word", r"[a-z]+", 5), "abc!", "'abc!' is not a word"),
    (Text("a word", r"[a-z]+", 5), "abcdef", "6 characters is longer than 5"),
])
def test_a_bad_value_gets_a_phrase(rule, value, phrase):
    assert phrase in rule.problem(value)


@pytest.mark.parametrize("rule, value", [
    (Choice(("a", "b")), "b"), (Number(1, 10, integer=True), 10), (Number(0.5, 10), 1), (Number(0.5, 10), 0.5),
    (Size(512, 64 << 20), "64M"), (Size(512, 64 << 20), "512"), (Flag(), False), (Text("a word", r"[a-z]+", 5), "abc"),
])
def test_a_good_value_has_no_problem(rule, value):
    assert rule.problem(value) is None


def test_check_names_the_parameter_and_what_it_must_be():
    rules = {"rw": Choice(("read", "write")), "iodepth": Number(1, 1024, integer=True)}
    assert check({"rw": "read"}, rules) == {"rw": "read"}
    with pytest.raises(ValueError, match=r"^rw must be one of read, write; got 'sideways'$"):
        check({"rw": "sideways"}, rules)
    with pytest.raises(ValueError, match=r"^iodepth must be an integer from 1 to 1024; got 1000000000$"):
        check({"iodepth": 10**9}, rules)
    with pytest.raises(ValueError, match=r"^unknown parameter 'depth'; known: iodepth, rw$"):
        check({"depth": 1}, rules)


def test_a_huge_hostile_value_is_cut_short():
    with pytest.raises(ValueError) as info:
        check({"rw": "x" * 100_000}, {"rw": Choice(("read",))})
    assert len(str(info.value)) < 200 and "\n" not in str(info.value)


# --- the runner applies them before the workload starts ---------------------------------------------------------

@pytest.mark.parametrize("workload, params, error", [
    ("io.fio", {"rw": "randread; rm -rf /"}, "rw must be one of read, write, randread, randwrite, randrw"),
    ("io.fio", {"iodepth": 1_000_000_000}, "iodepth must be an integer from 1 to 1024"),
    ("io.fio", {"bs": "1M", "size": "64k"}, "bs (1M) must be at most size (64k)"),
    ("io.fsync", {"sync": "fsync; reboot"}, "sync must be one of fsync, fdatasync"),
    ("cpu.pyloop", {"secs": 1}, "unknown parameter 'secs'"),
    ("mem.bandwidth", {"size": "4k"}, "size must be a size from 64k to 16G"),
    ("net.tcp_rr", {"port": 70000}, "port must be an integer from 0 to 65535"),
    ("pytest.benchmark", {"nodeid": "--co"}, "nodeid must be a pytest node id"),
])
def test_the_runner_refuses_a_bad_parameter_before_the_workload_starts(workload, params, error, tmp_path):
    invocation = json.dumps({"workload": workload, "params": params, "workdir": str(tmp_path)})
    proc = subprocess.run([*GUEST_PYTHON, str(RUNNER), invocation], capture_output=True, text=True, timeout=60,
                          cwd=tmp_path)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 1 and len(lines) == 1, proc.stdout + proc.stderr
    record = json.loads(lines[0])
    assert record["ok"] is False and record["error"].startswith("ValueError: ") and error in record["error"]
    assert list(tmp_path.iterdir()) == [], "nothing ran, so nothing was written"
