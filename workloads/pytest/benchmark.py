"""One benchmark of a user's pytest-benchmark suite, run in this environment: its median time per call.

The user's directory is shared read-only into the environment (``VBENCH_USER_DIR``); pytest runs just the one
benchmark (``nodeid``) with its JSON report written to the scratch directory, and that report is parsed here, so
each benchmark is a case of its own with vbench's rounds around pytest-benchmark's own rounds.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from typing import Any

from workloads.rules import Number, Text

PARAMS: dict[str, Any] = {"nodeid": "", "min_rounds": 5, "max_time": 1.0}
METRICS = {"median": ("s", False), "mean": ("s", False), "min": ("s", False), "ops": ("ops/s", True)}
PRIMARY = "median"
SUPPORTED_MAJOR = (3, 4, 5)  # pytest-benchmark JSON layouts this parser reads
# The node id goes on pytest's command line: one that starts with "-" would be an option (-p loads a plugin).
NODE_ID = Text("a pytest node id such as 'test_x.py::test_y'", r"(?:[^\s-][^\x00-\x1f\x7f]*::[^\x00-\x1f\x7f]+)?",
               1000)
RULES = {"nodeid": NODE_ID, "min_rounds": Number(1, 10_000, integer=True), "max_time": Number(0.001, 3600)}


def available() -> str | None:
    for module in ("pytest", "pytest_benchmark"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed for {sys.executable}"
    return None


def check_params(params: dict[str, Any]) -> None:
    """What RULES cannot say alone: the empty default is no benchmark at all."""
    if not params["nodeid"]:
        raise ValueError("nodeid must be given: the pytest node id of one benchmark, such as 'test_x.py::test_y'")


def run(params: dict[str, Any], workdir: str) -> dict[str, Any]:
    root = os.environ.get("VBENCH_USER_DIR")
    if not root:
        raise ValueError("a pytest-benchmark case needs the user's directory (VBENCH_USER_DIR)")
    fd, report = tempfile.mkstemp(suffix=".json", dir=workdir)
    os.close(fd)
    try:
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--benchmark-only",
                f"--benchmark-json={report}", f"--benchmark-storage=file://{workdir}/.benchmarks",
                f"--benchmark-min-rounds={params['min_rounds']}",
                f"--benchmark-max-time={params['max_time']}", "--rootdir", root, params["nodeid"]]
        done = subprocess.run(argv, cwd=root, capture_output=True, text=True,
                              env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        if done.returncode != 0:
            tail = (done.stdout + done.stderr).strip().splitlines()[-3:]
            raise RuntimeError(f"pytest exited {done.returncode}: {' | '.join(tail)}")
        with open(report) as f:
            stats = parse_report(f.read(), params["nodeid"])
    finally:
        os.unlink(report)
        shutil.rmtree(os.path.join(workdir, ".benchmarks"), ignore_errors=True)
    return {"metrics": {k: stats[k] for k in METRICS},
            "info": {"rounds": stats["rounds"], "iterations": stats["iterations"],
                     "pytest_benchmark": stats["version"]}}


def read_report(text: str) -> tuple[str, list]:
    """(version, benchmarks) of a pytest-benchmark JSON report, checked; ValueError naming what is wrong."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"pytest-benchmark report is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ValueError("pytest-benchmark report has no 'benchmarks' list")
    version = str(data.get("version", ""))
    major = version.split(".")[0]
    if not major.isdigit() or int(major) not in SUPPORTED_MAJOR:
        raise ValueError(f"pytest-benchmark report version {version or '(none)'} is not one vbench reads "
                         f"(major versions {', '.join(map(str, SUPPORTED_MAJOR))})")
    return version, data["benchmarks"]


def benchmark_ids(text: str) -> list[str]:
    """The node ids of the benchmarks in a report."""
    _, benchmarks = read_report(text)
    ids = [b.get("fullname") for b in benchmarks if isinstance(b, dict)]
    if not ids or not all(isinstance(i, str) and "::" in i for i in ids):
        raise ValueError("pytest-benchmark report: every benchmark needs a 'fullname' like 'file.py::test'")
    return ids


def parse_report(text: str, nodeid: str) -> dict[str, Any]:
    """The stats of ``nodeid`` in a pytest-benchmark JSON report; ValueError naming what is wrong."""
    version, benchmarks = read_report(text)
    for bench in benchmarks:
        fullname = str(bench.get("fullname", "")) if isinstance(bench, dict) else ""
        if fullname == nodeid or (fullname and fullname.split("::")[-1] == nodeid.split("::")[-1]):
            stats = bench.get("stats")
            missing = [k for k in ("median", "mean", "min", "ops", "rounds") if not isinstance(stats, dict)
                       or not isinstance(stats.get(k), (int, float))]
            if missing:
                raise ValueError(f"pytest-benchmark report: {bench.get('fullname')} lacks stats {missing}")
            return {**{k: float(stats[k]) for k in ("median", "mean", "min", "ops")}, "rounds": int(stats["rounds"]),
                    "iterations": int(stats.get("iterations", 1)), "version": version}
    raise ValueError(f"pytest-benchmark report has no benchmark {nodeid!r}")
