"""Fidelity of sliced I/O (issue 28, item 3): does a paused fio measure what a whole fio run measures?

Two parts, both printed as tables:

1. **Sliced against whole, one file.** For each fio job of the io suite, every round lays out one new file
   and runs on it, in an order alternating by round, (a) vbench's paused fio (``workloads/io/fio.py``,
   ``PausedFio``) in 50 ms slices for ``--seconds``, its figure the kernel-counted work over the slices' time,
   and (b) one whole fio run of the same job for the same time, its figure fio's own. A slice's time is fio's
   running time (from its SIGCONT to its SIGSTOP), as the product counts it; the table also gives the figure
   over each call's wall time (the stop and the count's reading included), as it was counted before. Printed:
   the median over rounds of sliced / whole - 1 and its range. Goal: within 2%.
2. **The overhead, sliced against whole.** Two real runs of vbench on the same pair of environments (native and
   docker:volume, no A/A), one after the other: paired slices, then ``--no-slices`` (whole trials). Printed: each
   case's overhead and 95% CI from both, and whether each estimate lies inside the other's CI. Goal: every case.

    .venv/bin/python benchmarks/io_slice_fidelity.py [--rounds 6] [--seconds 2] [--size 256M] [--dir /var/tmp]
        [--skip-runs] [--ops seq-read-1m,rand-write-4k-qd32]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from workloads.io import fio  # noqa: E402
from workloads.run import fill_params  # noqa: E402

SUITE = ROOT / "vbench" / "suites" / "io.toml"
RUN_CASES = ("rand-read-4k-qd1", "rand-write-4k-qd1", "fsync-4k")  # part 2: one read, one write, one Python unit


def fio_jobs(size: str) -> dict[str, dict]:
    """The io suite's fio jobs: name -> params, files of ``size``."""
    entries = tomllib.loads(SUITE.read_text())["workload"]
    return {e["name"]: {**e["params"], "size": size} for e in entries if e["use"] == "io.fio"}


def sliced_rate(paused: fio.PausedFio, seconds: float) -> tuple[float, float]:
    """Work over time of ``seconds`` of 50 ms slices, the first ten discarded (as a block discards a cycle):
    over fio's running time (the product's figure) and over the calls' wall time."""
    works, active, wall = [], [], []
    for i in range(round(seconds / fio.SLICE_S) + 10):
        start = time.perf_counter()
        work, ran = paused()
        if i >= 10:
            works.append(work)
            active.append(ran)
            wall.append(time.perf_counter() - start)
    return sum(works) / sum(active), sum(works) / sum(wall)


def whole_rate(job: fio.Job, paths: list[str], engine: str, seconds: float, primary: str) -> float:
    """One whole fio run of ``job`` on ``paths`` for ``seconds``: its primary figure, fio's own."""
    timed = dataclasses.replace(job, runtime=seconds)
    result = fio.run_fio_argv(fio.fio_argv(timed, paths, True, engine), timeout=seconds + 120)
    return float(result["metrics"][primary])


def part_one(ops: dict[str, dict], args) -> None:
    print("\n## 1. A paused fio in 50 ms slices against a whole fio run, same file\n")
    print("| job | rounds | sliced / whole - 1, median | range | over the calls' wall time, median |")
    print("|---|---|---|---|---|")
    for name, raw in ops.items():
        params = fill_params(fio, raw)
        job = fio.job_from(params)
        primary = fio.PRIMARY_BY_RW[job.rw]
        ratios, walls = [], []
        for r in range(args.rounds):
            paused = fio.PausedFio(job, str(args.scratch), fio.choose_ioengine(job, True)[0])
            try:
                first_sliced = r % 2 == 0
                if first_sliced:
                    sliced, wall = sliced_rate(paused, args.seconds)
                whole = whole_rate(job, paused.paths, paused.ioengine, args.seconds, primary)
                if not first_sliced:
                    sliced, wall = sliced_rate(paused, args.seconds)
            finally:
                paused.close()
            ratios.append(sliced / whole - 1)
            walls.append(wall / whole - 1)
        print(f"| {name} | {len(ratios)} | {100 * statistics.median(ratios):+.1f}% | "
              f"{100 * min(ratios):+.1f}% .. {100 * max(ratios):+.1f}% | {100 * statistics.median(walls):+.1f}% |",
              flush=True)


def vbench_run(suite: Path, results: Path, extra: list[str]) -> dict[str, dict]:
    """A real run of vbench (native and docker:volume, no A/A): case -> its docker:volume row of the summary."""
    argv = [str(ROOT / ".venv" / "bin" / "vbench"), "run", "--suite", str(suite), "--env", "native,docker:volume",
            "--no-aa", "--results", str(results), *extra]
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    [run] = [p for p in results.iterdir() if p.is_dir()]
    rows = json.loads(subprocess.run([argv[0], "summary", str(run), "--format", "json"], check=True,
                                     capture_output=True, text=True).stdout)
    return {row["case"]: row for row in rows if row.get("environment") == "docker:volume" and row.get("primary")}


def part_two(args) -> None:
    entries = [e for e in tomllib.loads(SUITE.read_text())["workload"] if e["name"] in RUN_CASES]
    lines = ['name = "io-fidelity"', 'description = "issue 28 item 3"',
             'environments = ["native", "docker:volume"]',
             "[plan]", "warmup_rounds = 1", "min_rounds = 6", "max_rounds = 6", "time_budget_s = 1800"]
    for entry in entries:
        params = ", ".join(f"{k} = {json.dumps(v)}" for k, v in entry["params"].items())
        lines += ["[[workload]]", f'name = "{entry["name"]}"', f'use = "{entry["use"]}"', f"params = {{ {params} }}"]
    suite = args.scratch / "io-fidelity.toml"
    suite.write_text("\n".join(lines) + "\n")
    sliced = vbench_run(suite, args.scratch / "sliced", [])
    whole = vbench_run(suite, args.scratch / "whole", ["--no-slices"])
    print("\n## 2. docker:volume's overhead vs native: paired slices against whole trials (two runs)\n")
    print("| case | sliced: overhead [95% CI] | whole: overhead [95% CI] | each inside the other's CI |")
    print("|---|---|---|---|")
    for case in RUN_CASES:
        a, b = sliced.get(case), whole.get(case)
        if not a or not b:
            print(f"| {case} | {'-' if not a else cell(a)} | {'-' if not b else cell(b)} | - |")
            continue
        inside = inside_ci(a["overhead_pct"], b) and inside_ci(b["overhead_pct"], a)
        print(f"| {case} | {cell(a)} | {cell(b)} | {'yes' if inside else 'no'} |")


def cell(row: dict) -> str:
    return f"{row['overhead_pct']:+.1f}% [{row['ci_low']:+.1f}, {row['ci_high']:+.1f}]"


def inside_ci(value: float, row: dict) -> bool:
    return row["ci_low"] <= value <= row["ci_high"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--seconds", type=float, default=2.0, help="seconds each way per round (part 1)")
    parser.add_argument("--size", default="256M")
    parser.add_argument("--dir", type=Path, default=Path("/var/tmp"))
    parser.add_argument("--ops", help="comma-separated fio jobs of the io suite (part 1; default: all)")
    parser.add_argument("--skip-runs", action="store_true", help="part 1 only")
    args = parser.parse_args()
    ops = fio_jobs(args.size)
    if args.ops:
        unknown = [o for o in args.ops.split(",") if o not in ops]
        if unknown:
            raise SystemExit(f"io_slice_fidelity.py: unknown op(s) {', '.join(unknown)}; choose from {', '.join(ops)}")
        ops = {o: ops[o] for o in args.ops.split(",")}
    if args.rounds < 2 or args.seconds <= 0:
        raise SystemExit("io_slice_fidelity.py: --rounds must be at least 2 and --seconds positive")
    if not shutil.which("fio"):
        raise SystemExit("io_slice_fidelity.py: fio is not installed (./setup.sh installs it)")
    args.scratch = Path(tempfile.mkdtemp(prefix="vbench-io-fidelity-", dir=args.dir))
    try:
        part_one(ops, args)
        if not args.skip_runs:
            part_two(args)
    finally:
        shutil.rmtree(args.scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
