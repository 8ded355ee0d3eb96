"""Long runs stay flat (issue 29): vbench's own resident memory, open file descriptors and threads, from its first
trial to its last, over a long cpu run (40 rounds by default) and the README's main job (the io suite).

Each run is the command a user types (``vbench run``), watched from outside: at every trial's progress line the
benchmark reads the vbench process's RSS, descriptors and threads (psutil). Printed per run: the figures at
the first trial, at a quarter, half and three quarters of the trials and at the last; the growth from first to
last, per 1,000 trials (a least-squares slope over the second half, after the caches and the worker pool have
filled); and whether that meets the goal: RSS within 16 MiB of the first trial's and no descriptor or thread
more at the end than at the first trial. The analysis and the report after the last trial are not trials and
are not watched.

    .venv/bin/python benchmarks/long_run.py [--cpu-rounds 40] [--no-io] [--io-args "--quick"]
        [--results DIR] [--json out.json]

It measures, so it takes the host's measuring lock like any run: nothing else should measure meanwhile.
"""
from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

VBENCH = [sys.executable, "-m", "vbench.cli"]
PROGRESS = re.compile(r"^\[(\d+)/(\d+)\]")
RSS_GOAL_BYTES = 16 << 20


def watch(argv: list[str]) -> tuple[list[dict], int, float]:
    """Run ``argv`` (a vbench run), reading its process at every trial line: the readings, its exit status and
    its wall time."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    me = psutil.Process(proc.pid)
    readings: list[dict] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        found = PROGRESS.match(line)
        if not found:
            continue
        try:
            with me.oneshot():
                readings.append({"trial": int(found[1]), "planned": int(found[2]), "t": time.monotonic() - start,
                                 "rss": me.memory_info().rss, "fds": me.num_fds(), "threads": me.num_threads()})
        except psutil.Error:
            break
        if len(readings) % 100 == 0:
            last = readings[-1]
            print(f"  {last['trial']} trials: rss {last['rss'] / 2**20:.1f} MiB, fds {last['fds']}, "
                  f"threads {last['threads']}", flush=True)
    return readings, proc.wait(), time.monotonic() - start


def slope_per_1000(readings: list[dict], key: str) -> float:
    """Least-squares growth of ``key`` per 1,000 trials over the second half of the readings."""
    half = readings[len(readings) // 2:]
    if len(half) < 2:
        return 0.0
    xs, ys = [r["trial"] for r in half], [r[key] for r in half]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 1000 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0


def summarise(name: str, readings: list[dict], code: int, wall: float) -> dict:
    if not readings:
        print(f"{name}: no trial ran (exit {code})")
        return {"run": name, "exit": code, "trials": 0, "meets_goal": False}
    first, last = readings[0], readings[-1]
    print(f"\n{name}: exit {code}, {last['trial']} trials in {wall / 60:.1f} min")
    print(f"  {'at trial':>9} {'rss MiB':>9} {'fds':>5} {'threads':>8}")
    for share in (0, 0.25, 0.5, 0.75, 1.0):
        r = readings[min(len(readings) - 1, int(share * (len(readings) - 1)))]
        print(f"  {r['trial']:>9} {r['rss'] / 2**20:>9.1f} {r['fds']:>5} {r['threads']:>8}")
    growth = {"rss_bytes": last["rss"] - first["rss"], "fds": last["fds"] - first["fds"],
              "threads": last["threads"] - first["threads"]}
    slopes = {key: slope_per_1000(readings, key) for key in ("rss", "fds", "threads")}
    meets = growth["rss_bytes"] <= RSS_GOAL_BYTES and growth["fds"] <= 0 and growth["threads"] <= 0
    print(f"  first to last: rss {growth['rss_bytes'] / 2**20:+.1f} MiB, fds {growth['fds']:+d}, "
          f"threads {growth['threads']:+d}; second half per 1,000 trials: rss {slopes['rss'] / 2**20:+.2f} MiB, "
          f"fds {slopes['fds']:+.2f}, threads {slopes['threads']:+.2f}")
    print(f"  goal (rss within {RSS_GOAL_BYTES >> 20} MiB, no more fds or threads at the end): "
          f"{'met' if meets else 'MISSED'}")
    return {"run": name, "exit": code, "trials": last["trial"], "wall_s": round(wall, 1), "first": first,
            "last": last, "max_rss": max(r["rss"] for r in readings), "growth": growth, "slope_per_1000": slopes,
            "meets_goal": meets}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cpu-rounds", type=int, default=40)
    parser.add_argument("--cpu-args", default="--quick", help="more options of the cpu run (default: --quick)")
    parser.add_argument("--no-io", action="store_true", help="leave out the io run")
    parser.add_argument("--io-args", default="", help="more options of the io run (default: none: the main job)")
    parser.add_argument("--results", type=Path, help="where the runs go (default: a temporary directory)")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vbench-long-run-") as tmp:
        results = args.results or Path(tmp)
        runs = [("cpu", ["--suite", "cpu", "--min-rounds", str(args.cpu_rounds), "--max-rounds", str(args.cpu_rounds),
                         "--time-budget", "100000", *shlex.split(args.cpu_args)])]
        if not args.no_io:
            runs.append(("io", ["--suite", "io", *shlex.split(args.io_args)]))
        out = []
        for name, options in runs:
            argv = [*VBENCH, "run", *options, "--output", str(results / name)]
            print(f"{name}: {shlex.join(argv)}", flush=True)
            out.append(summarise(name, *watch(argv)))
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    sys.exit(0 if all(r["exit"] == 0 for r in out) else 1)


if __name__ == "__main__":
    main()
