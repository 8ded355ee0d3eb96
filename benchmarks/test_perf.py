"""vbench's own performance: collector sampling, statistics, loading a large run and writing the report.

pytest's testpaths point at tests/, so the main suite never collects these; run them by path:

    .venv/bin/python -m pytest benchmarks/test_perf.py --benchmark-only -q

Each benchmark's docstring states its goal. Goals are recorded in ``extra_info`` (``goal``, ``meets_goal``)
rather than asserted, so a slow or busy machine reports a number instead of failing; what is asserted is that
the code under test did the whole job (rows loaded, table rows, report written).

Synthetic runs are built from the trial records of the real run in tests/data/runs/small, so every line has
the size and nesting of a real trial; only identities and values change. Lines are written from one
``json.dumps`` per (case, environment) shape with %-placeholders, not through ``RunStore.append_trial``, whose
fsync per trial would make a 250,000-trial fixture take minutes.
"""
from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd
import psutil
import pytest

import vbench
from vbench import stats
from vbench.collectors.cgroup import CgroupCollector
from vbench.collectors.process import ProcessCollector
from vbench.model import Handle
from vbench.report import build_report
from vbench.report.labels import case_order, environment_order
from vbench.report.timeseries import typical_trials
from vbench.store import TRIAL_COLUMNS, TRIALS_FILE, RunStore, meta_from, read_run

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
SMALL = DATA / "runs" / "small"
CGROUP_V1 = DATA / "cgroup" / "v1"

SAMPLE_HZ = 10  # the collectors' default rate (interval 0.1 s)
CORE_SHARE_GOAL_PCT = 1.0
LOAD_GOAL_S = 10.0
# Fields that differ from trial to trial; everything else comes from the shape's template.
VARYING = ("trial_id", "round", "warmup", "seq", "started_at", "samples", "host_wall_s", "guest_duration_s")


# --- synthetic runs ---------------------------------------------------------------------------------------------

def real_trials() -> dict[str, dict]:
    """The real run's trial records by trial id."""
    lines = (SMALL / TRIALS_FILE).read_text().splitlines()
    return {record["trial_id"]: record for record in map(json.loads, lines)}


def trial_template(case: str, environment: str, source: dict) -> dict:
    """A real trial record re-labelled as ``case`` in ``environment`` (``vm:*`` ran under TCG)."""
    record = copy.deepcopy(source)
    kind, _, variant = environment.partition(":")
    record.update(case=case, environment=environment, env_kind=kind, variant=variant or None,
                  accelerator="tcg" if kind == "vm" else None)
    if kind != "docker":  # VMs and native processes have no container cgroup
        record["collectors"] = {"psutil": record["collectors"]["psutil"]}
    return record


def line_format(record: dict) -> str:
    """The record as a trials.jsonl line (sorted keys, as RunStore writes it) with a %-placeholder for each
    varying field and metric value."""
    record = copy.deepcopy(record)
    for key in VARYING:
        record[key] = f"@{key}@"
    for name in record.get("metrics") or {}:
        record["metrics"][name]["value"] = f"@value_{name}@"
    text = json.dumps(record, sort_keys=True, default=str).replace("%", "%%")
    return re.sub(r'"@(\w+)@"', r"%(\1)s", text) + "\n"


def run_meta(run_id: str, cases: list[str], environments: list[str], workloads: dict[str, str],
             rounds: int) -> dict:
    """run.json of the real run, re-labelled for the synthetic cases and environments."""
    meta = read_run(SMALL)
    fingerprints = meta["env_fingerprints"]
    meta["environments"] = environments
    meta["env_fingerprints"] = {
        env: {**fingerprints["docker:volume" if env.startswith("docker") else "native"],
              "kind": env.partition(":")[0], "variant": env.partition(":")[2] or None,
              **({"accelerator": "tcg", "accelerator_reason": "no KVM here"} if env.startswith("vm") else {})}
        for env in environments}
    meta["suite"] = {**meta["suite"], "name": run_id, "environments": environments,
                     "entries": [{"name": c, "workload": workloads[c], "params": {}} for c in cases]}
    meta["rounds"] = {"done": rounds, "max": rounds, "planned_min": rounds, "decisions": [],
                      "stop_reason": f"round cap {rounds} reached"}
    return meta


def write_trials(store: RunStore, shapes: dict[tuple[str, str], tuple[str, list]], rounds: int,
                 warmup_rounds: int, seed: int, samples=lambda trial_id: None) -> int:
    """Every shape once per round, in round order; returns the number of trials written. A shape is a line
    format and its metrics as (name, typical value); values vary lognormally around the typical one.
    ``samples`` names a trial's samples file (or None)."""
    rng = np.random.default_rng(seed)
    seq = 0
    with open(store.dir / TRIALS_FILE, "w") as out:
        for number in range(rounds):
            warmup = number < warmup_rounds
            label = -1 if warmup else number - warmup_rounds + 1
            prefix = f"w{number + 1:03d}" if warmup else f"r{label:03d}"
            noise = rng.lognormal(0.0, 0.05, size=(len(shapes), 6))
            chunk = []
            for ((case, env), (fmt, metrics)), row in zip(shapes.items(), noise):
                trial_id = f"{prefix}-{case}@{env}"
                sample = samples(trial_id)
                fields = {"trial_id": f'"{trial_id}"', "round": str(label), "warmup": "true" if warmup else "false",
                          "seq": str(seq), "started_at": f'"{_stamp(seq)}"',
                          "samples": f'"{sample}"' if sample else "null",
                          "host_wall_s": repr(round(float(0.25 * row[0]), 6)),
                          "guest_duration_s": repr(round(float(0.2 * row[1]), 6))}
                for (name, typical), value in zip(metrics, row[2:]):
                    fields[f"value_{name}"] = repr(float(typical * value))
                chunk.append(fmt % fields)
                seq += 1
            out.write("".join(chunk))
    return seq


def _stamp(seq: int) -> str:
    """A started_at for the seq-th trial, a quarter second apart."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(1795956183 + seq // 4)) + f".{seq % 4 * 250:03d}+00:00"


def slowdown(case_index: int, env: str) -> float:
    """A plausible factor on a throughput: native 1, containers a little less, TCG a lot less."""
    kind = env.partition(":")[0]
    return {"native": 1.0, "docker": 0.98 - 0.01 * (case_index % 3), "vm": 0.4 + 0.03 * case_index}[kind]


def build_run(base: Path, name: str, cases: list[str], environments: list[str], sources: dict[str, dict],
              workloads: dict[str, str], rounds: int, warmup_rounds: int, samples=lambda trial_id: None) -> Path:
    """Write a synthetic run directory; ``sources`` gives each case's real template trial, whose metric values,
    slowed down per environment, are the typical values."""
    store = RunStore.create(base, name, meta_from(run_meta(name, cases, environments, workloads,
                                                          rounds - warmup_rounds)))
    shapes = {}
    for i, case in enumerate(cases):
        for env in environments:
            record = {**trial_template(case, env, sources[case]), "workload": workloads[case], "run_id": name}
            factor = slowdown(i, env)
            metrics = [(metric, m["value"] * (factor if m["higher_is_better"] else 1 / factor))
                       for metric, m in record["metrics"].items()]
            shapes[case, env] = (line_format(record), metrics)
    write_trials(store, shapes, rounds, warmup_rounds, seed=len(cases) * rounds, samples=samples)
    return store.dir


@pytest.fixture(scope="session")
def sources() -> dict[str, dict]:
    """The real trials the synthetic ones are made from: fsync (4 metrics, cgroup collector) and sha256 (1)."""
    trials = real_trials()
    return {"fsync": trials["r002-fsync@docker:volume"], "sha256": trials["r002-sha256@docker:volume"]}


@pytest.fixture(scope="session")
def run_1m(tmp_path_factory, sources) -> Iterator[Path]:
    """250,000 fsync-shaped trials (4 metrics each: 1,000,000 tidy rows): 10 cases x 5 environments x 5,000
    rounds, all measured. Removed afterwards: pytest keeps its last temporary directories, and this one is
    about 580 MB."""
    cases = [f"fsync-{i}" for i in range(10)]
    envs = ["native", "docker:layer", "docker:volume", "vm:virtio", "vm:qcow2"]
    base = tmp_path_factory.mktemp("perf-1m")
    try:
        yield build_run(base, "perf-1m", cases, envs, {c: sources["fsync"] for c in cases},
                        {c: "io.fsync" for c in cases}, rounds=5000, warmup_rounds=0)
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def run_10k(tmp_path_factory, sources) -> Path:
    """10,000 trials: 10 cases (5 cpu, 5 io) x native and a TCG VM x 500 rounds (1 warmup), with samples files
    for the trials the report plots and a few more. The io cases are fsync-shaped records under the io suite's
    case names, so the claims on I/O match them."""
    cpu = ["pyloop", "sha256", "zlib", "sieve", "matmul"]
    io = ["fsync-4k", "seq-read-1m", "rand-read-4k-qd1", "metadata", "sqlite-tx"]
    workloads = {**{c: f"cpu.{c}" for c in cpu}, **{c: "io.fsync" for c in io}}
    case_sources = {**{c: sources["sha256"] for c in cpu}, **{c: sources["fsync"] for c in io}}
    base = tmp_path_factory.mktemp("perf-10k")
    directory = build_run(base, "perf-10k", cpu + io, ["native", "vm:virtio"], case_sources, workloads,
                          rounds=500, warmup_rounds=1, samples=lambda trial_id: f"samples/{trial_id}.json")
    write_samples(directory)
    return directory


def write_samples(directory: Path) -> None:
    """Samples files for the typical trial of each environment (the ones the report plots) and a few others;
    every other trial names a samples file that is missing, as after a lost file."""
    frame = vbench.load(directory)
    primary = frame[frame["primary"] & ~frame["warmup"]]
    chosen = {t["trial_id"] for t in typical_trials(primary, case_order(frame), environment_order(frame))}
    chosen |= set(primary["trial_id"].iloc[::997])
    series = (SMALL / "samples" / "r002-fsync@native.json").read_text()
    (directory / "samples").mkdir()
    for trial_id in chosen:
        (directory / "samples" / f"{trial_id}.json").write_text(series)


# --- 1. collector sampling cost ---------------------------------------------------------------------------------

@pytest.fixture
def process_tree():
    """A sleeping python process with a sleeping child; both are ended afterwards."""
    child = "import time; time.sleep(600)"
    parent = subprocess.Popen([sys.executable, "-c",
                               f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); "
                               "time.sleep(600)"])
    root = psutil.Process(parent.pid)
    deadline = time.monotonic() + 10
    while not root.children() and time.monotonic() < deadline:
        time.sleep(0.01)
    children = root.children(recursive=True)
    assert children, "the child process did not start"
    try:
        yield parent.pid
    finally:
        for proc in [*children, root]:
            try:
                proc.kill()
                proc.wait(5)
            except psutil.Error:
                pass
        parent.wait()


def record_core_share(benchmark) -> None:
    """The share of one core that sampling at SAMPLE_HZ costs, from the median sample time."""
    if benchmark.stats is None:  # --benchmark-disable: nothing was timed
        return
    share = benchmark.stats.stats.median * SAMPLE_HZ * 100
    benchmark.extra_info.update(sample_hz=SAMPLE_HZ, core_share_pct=round(share, 4),
                                goal=f"< {CORE_SHARE_GOAL_PCT}% of a core", meets_goal=share < CORE_SHARE_GOAL_PCT)


def test_process_collector_sample(benchmark, process_tree):
    """One ProcessCollector sample of a real two-process tree (psutil: the host's CPU split, then each process's
    CPU times, memory, I/O and context switches). Goal: at 10 Hz, under 1% of a core (a sample under 1 ms)."""
    collector = ProcessCollector(interval=3600)  # the thread waits an hour: only the benchmark samples
    collector.start()
    collector.attach(Handle(pid=process_tree))
    try:
        sample = benchmark(collector.sample)
    finally:
        collector.stop()
    assert sample["processes"] == 2
    record_core_share(benchmark)


def test_cgroup_collector_sample(benchmark, tmp_path):
    """One CgroupCollector sample of a v1 container cgroup (a copy of the captured tree: cpuacct, cpu, memory,
    blkio; nine small files). Goal: at 10 Hz, under 1% of a core (a sample under 1 ms)."""
    tree = tmp_path / "v1"
    shutil.copytree(CGROUP_V1, tree)
    collector = CgroupCollector(interval=3600)
    collector.start()
    collector.attach(Handle(pid=1, cgroups={c: str(tree / c) for c in ("cpuacct", "cpu", "memory", "blkio")}))
    try:
        sample = benchmark(collector.sample)
    finally:
        collector.stop()
    assert sample["io_read_bytes"] > 0 and sample["memory_bytes"] > 0
    record_core_share(benchmark)


# --- 2. statistics on 10k trials --------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def frame_10k() -> pd.DataFrame:
    """A tidy frame of 10,000 measured trials: 10 cases x 5 environments x 200 trials, one throughput metric,
    lognormal values (seed 10)."""
    rng = np.random.default_rng(10)
    cases = [f"case-{i}" for i in range(10)]
    envs = ["native", "docker:layer", "docker:volume", "vm:virtio", "vm:qcow2"]
    n = 200
    parts = []
    for i, case in enumerate(cases):
        for env in envs:
            values = 1000.0 * slowdown(i, env) * rng.lognormal(0.0, 0.05, n)
            parts.append(pd.DataFrame({
                "trial_id": [f"r{r + 1:03d}-{case}@{env}" for r in range(n)], "round": np.arange(1, n + 1),
                "warmup": False, "case": case, "environment": env, "env_kind": env.partition(":")[0],
                "status": "ok", "metric": "throughput", "value": values, "unit": "MiB/s",
                "higher_is_better": True, "primary": True}))
    return pd.concat(parts, ignore_index=True).reindex(columns=TRIAL_COLUMNS)


def test_overhead_table_10k(benchmark, frame_10k):
    """stats.overhead_table on 10,000 measured trials: 40 (case, environment) comparisons, each a median
    overhead, a 2,000-resample bootstrap CI and a Mann-Whitney test. Goal: under 5 s, so a report or the
    notebook's table is interactive."""
    table = benchmark.pedantic(stats.overhead_table, args=(frame_10k,), rounds=3, iterations=1, warmup_rounds=0)
    assert len(table) == 40 and table["ci_low"].notna().all()
    record_goal(benchmark, 5.0)


def record_goal(benchmark, goal_s: float) -> None:
    if benchmark.stats is None:
        return
    median = benchmark.stats.stats.median
    benchmark.extra_info.update(goal=f"<= {goal_s} s", meets_goal=median <= goal_s)


# --- 3. loading 1M rows and the overhead table ------------------------------------------------------------------

def test_load_and_overhead_1m(benchmark, run_1m):
    """vbench.load of a 250,000-trial run (1,000,000 tidy rows), then overhead_table of its primary rows
    (250,000 trials, 40 comparisons of 5,000 against 5,000). Goal: <= 10 s on this machine. extra_info splits
    the time into load_s and overhead_table_s."""
    split: dict[str, float] = {}

    def load_and_table():
        start = time.perf_counter()
        frame = vbench.load(run_1m)
        loaded = time.perf_counter()
        table = stats.overhead_table(frame[frame.primary])
        split.update(load_s=round(loaded - start, 3), overhead_table_s=round(time.perf_counter() - loaded, 3),
                     rows=len(frame))
        return table

    table = benchmark.pedantic(load_and_table, rounds=1, iterations=1, warmup_rounds=0)
    assert split["rows"] == 1_000_000 and len(table) == 40
    benchmark.extra_info.update(split)
    record_goal(benchmark, LOAD_GOAL_S)


# --- 4. the report of 10k trials --------------------------------------------------------------------------------

def test_build_report_10k(benchmark, run_10k, tmp_path):
    """build_report of a 10,000-trial run (native and a TCG VM, 10 cases): load, overhead table, verdicts,
    figures, the typical trials' time series and a 10,000-row trial table. Goal: under 30 s."""
    out = tmp_path / "report.html"
    path = benchmark.pedantic(build_report, args=(run_10k,), kwargs={"out": out}, rounds=2, iterations=1,
                              warmup_rounds=0)
    html = path.read_text()
    assert "(TCG emulation)" in html and html.count("<tr") > 10_000
    benchmark.extra_info.update(html_bytes=len(html))
    record_goal(benchmark, 30.0)
