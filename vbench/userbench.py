"""Users' own pytest-benchmark suites as vbench cases: every benchmark becomes a case of its own.

``vbench run --pytest-benchmark PATH`` finds the benchmarks under PATH with one quick native pass of
pytest-benchmark (its JSON report names them), then runs each as the ``pytest.benchmark`` workload in every
environment, with PATH shared read-only, so the overheads get the same rounds, CIs, verdicts and report as
built-in workloads.
"""
from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path

from vbench import catalog
from vbench.errors import VBenchError
from vbench.procs import host_python
from vbench.suite import Entry, PlanSettings, Suite
from workloads.pytest.benchmark import benchmark_ids

FULL = PlanSettings(warmup_rounds=1, min_rounds=5, max_rounds=10, ci_target_pct=2.0, time_budget_s=3600,
                    timeout_s=600)
QUICK = PlanSettings(warmup_rounds=1, min_rounds=3, max_rounds=4, ci_target_pct=5.0, time_budget_s=900,
                     timeout_s=600)


def discover(root: Path) -> list[str]:
    """The node ids of the pytest-benchmark benchmarks under ``root`` (one fast native pass)."""
    python = host_python()
    with tempfile.TemporaryDirectory(prefix="vbench-discover-") as tmp:
        report = Path(tmp) / "report.json"
        argv = [python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--benchmark-only",
                "--benchmark-min-rounds=1", "--benchmark-max-time=0.000001", "--benchmark-warmup=off",
                f"--benchmark-json={report}", f"--benchmark-storage=file://{tmp}/.benchmarks", "--rootdir",
                str(root), str(root)]
        try:
            done = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=600,
                                  env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        except subprocess.TimeoutExpired:
            raise VBenchError(f"finding the benchmarks under {root} took over 10 minutes") from None
        if "No module named pytest" in done.stderr or "unrecognized arguments: --benchmark" in done.stderr:
            raise VBenchError(f"{python} lacks pytest or pytest-benchmark (apt-get install python3-pytest "
                              "python3-pytest-benchmark, or ./setup.sh)")
        if done.returncode not in (0, 5):
            tail = " | ".join((done.stdout + done.stderr).strip().splitlines()[-2:])
            raise VBenchError(f"pytest could not run the benchmarks under {root}: {tail}")
        if not report.exists() or report.stat().st_size == 0:
            return []  # pytest-benchmark writes no report when nothing is a benchmark
        try:
            return benchmark_ids(report.read_text())
        except ValueError as exc:
            raise VBenchError(str(exc)) from None


def suite_for(path: str, quick: bool) -> tuple[Suite, Path]:
    """A suite with one case per benchmark under ``path``, and the directory to share read-only."""
    target = Path(path).resolve()
    if not target.exists():
        raise VBenchError(f"--pytest-benchmark: {path} does not exist")
    root = target if target.is_dir() else target.parent
    ids = [i for i in discover(root) if target.is_dir() or i.split("::")[0] == target.name]
    if not ids:
        raise VBenchError(f"--pytest-benchmark: no pytest-benchmark benchmarks under {path}")
    entries, used = [], set()
    for nodeid in ids:
        name = case_name(nodeid, used)
        used.add(name)
        params = {"nodeid": nodeid, "min_rounds": 5 if quick else 10, "max_time": 0.5 if quick else 1.0}
        # The node id comes from the user's files and ends up on pytest's command line in every environment.
        catalog.validate_params("pytest.benchmark", params, f"--pytest-benchmark: {name}.params")
        entries.append(Entry(name, "pytest.benchmark", params))
    suite = Suite(f"pytest-{case_name(root.name, set())}", f"pytest-benchmark suite {root}", tuple(entries),
                  ("native", "docker:volume", "vm:virtio"), QUICK if quick else FULL, f"pytest-benchmark:{root}",
                  quick)
    return suite, root


def case_name(nodeid: str, used: set[str]) -> str:
    """A case name (letters, digits, . _ + -) from a node id, unique among ``used``."""
    base = re.sub(r"[^A-Za-z0-9_.+-]+", "-", nodeid.split("::")[-1])
    base = re.sub(r"-{2,}", "-", base).strip("-")[:56] or "benchmark"
    name, n = base, 2
    while name in used:
        name, n = f"{base}-{n}", n + 1
    return name
