"""The CPU and memory workloads, each run through the real runner (workloads/run.py) in a subprocess.

Three interpreters: the one running the tests (the project venv, with numpy) takes the numpy paths; the system
python3 with -S (no site-packages, so the stdlib only, like the minimal guest) takes the stdlib paths whether or
not numpy is installed system-wide; plain system python3 takes whichever its packages allow (Debian's numpy is
older, which exercises the compatibility code). Speeds are never asserted, only that they are sane numbers.
"""
from __future__ import annotations

import functools
import importlib
import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]
RUNNER = ROOT / "workloads" / "run.py"
SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")
INTERPRETERS = {"venv": [sys.executable], "stdlib": [SYSTEM_PYTHON, "-S"], "system": [SYSTEM_PYTHON]}

SMALL = {
    "cpu.pyloop": {"loops": 10_000},
    "cpu.sha256": {"size": "64k"},
    "cpu.zlib": {"size": "128k"},
    "cpu.sieve": {"limit": 10_000},
    "cpu.matmul": {"n": 64, "threads": 1},
    "mem.bandwidth": {"size": "1M"},
    "mem.latency": {"size": "1M", "updates": 4096, "chase": 4096},
}
# workload -> (metrics with numpy, metrics without, flag without); the others return all their metrics either way
NUMPY_PATHS = {
    "mem.bandwidth": ({"memmove", "copy", "scale", "add", "triad"}, {"memmove"}, "no-numpy"),
    "mem.latency": ({"mups", "ns_per_update"}, {"ns_per_access"}, "python-fallback"),
}


@functools.cache
def has_numpy(interpreter: str) -> bool:
    cmd = INTERPRETERS[interpreter]
    if cmd[0] is None:
        pytest.skip("no system python3")
    return subprocess.run([*cmd, "-c", "import numpy"], capture_output=True).returncode == 0


def run_workload(cmd: list[str], workload: str, workdir: Path) -> tuple[int, dict]:
    invocation = {"workload": workload, "params": {"seconds": 0.2, **SMALL[workload]}, "workdir": str(workdir)}
    proc = subprocess.run([*cmd, str(RUNNER), json.dumps(invocation)], capture_output=True, text=True,
                          timeout=60, cwd=workdir)
    lines = proc.stdout.splitlines()
    assert len(lines) == 1, proc.stdout + proc.stderr
    return proc.returncode, json.loads(lines[0])


@pytest.fixture
def workloads_importable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(ROOT))


@pytest.mark.parametrize("workload", SMALL)
@pytest.mark.parametrize("interpreter", INTERPRETERS)
def test_runs_through_the_runner(interpreter: str, workload: str, tmp_path: Path, workloads_importable: None) -> None:
    numpy = has_numpy(interpreter)
    if interpreter == "venv" and not numpy:
        pytest.skip("the test interpreter has no numpy")
    assert not (interpreter == "stdlib" and numpy), "python3 -S should see the stdlib only"
    status, record = run_workload(INTERPRETERS[interpreter], workload, tmp_path)

    if workload == "cpu.matmul" and not numpy:
        assert (status, record["ok"]) == (1, False)
        assert record["error"].startswith("RuntimeError: unavailable")
        return
    assert (status, record["ok"]) == (0, True), record.get("traceback")
    module = importlib.import_module(f"workloads.{workload}")
    with_numpy, without, flag = NUMPY_PATHS.get(workload, (set(module.METRICS), set(module.METRICS), None))
    assert set(record["metrics"]) == (with_numpy if numpy else without)
    assert (flag in record["flags"]) == (flag is not None and not numpy)
    assert record["primary"] in record["metrics"]
    for name, metric in record["metrics"].items():
        assert math.isfinite(metric["value"]) and metric["value"] > 0, name
        assert (metric["unit"], metric["higher_is_better"]) == tuple(module.METRICS[name]), name
    assert record["info"]["iterations"] >= 3
    assert not any(tmp_path.iterdir()), "cpu and mem workloads write nothing"


@pytest.mark.parametrize("workload", NUMPY_PATHS)
def test_numpy_false_takes_the_stdlib_path(workload: str, tmp_path: Path) -> None:
    invocation = {"workload": workload, "params": {"seconds": 0.05, **SMALL[workload], "numpy": False}}
    proc = subprocess.run([sys.executable, str(RUNNER), json.dumps(invocation)], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    record = json.loads(proc.stdout)
    _, without, flag = NUMPY_PATHS[workload]
    assert record["ok"] and set(record["metrics"]) == without and flag in record["flags"]


def test_sieve_counts_primes(workloads_importable: None) -> None:
    sieve = importlib.import_module("workloads.cpu.sieve")
    assert [sieve.count_primes(n) for n in (0, 1, 2, 3, 100, 10_000)] == [0, 0, 0, 1, 25, 1229]


def test_chase_table_is_one_cycle_through_every_line(workloads_importable: None) -> None:
    latency = importlib.import_module("workloads.mem.latency")
    table = latency.single_cycle(1000)
    seen, i = set(), 0
    while i not in seen:
        seen.add(i)
        i = table[i]
    assert i == 0 and seen == set(range(0, 1000 * latency.LINE, latency.LINE))


def test_zlib_input_is_deterministic_and_semi_compressible(workloads_importable: None) -> None:
    import zlib

    workload = importlib.import_module("workloads.cpu.zlib")
    data = workload.sample_text(256 * 1024)
    assert len(data) == 256 * 1024 and data == workload.sample_text(256 * 1024)
    assert 1.5 < len(data) / len(zlib.compress(data, 6)) < 10
