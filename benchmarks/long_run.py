"""Long runs stay flat (issue 29): vbench's own resident memory, open file descriptors and threads, from its first
trial to its last, over a long cpu run (40 rounds by default) and the README's main job (the io suite).

Each run is the command a user types (``vbench run``), watched from outside: at every trial's progress line the
benchmark reads the vbench process's RSS, descriptors and threads (psutil). Printed per run: the figures at
the first trial, at a quarter, half and three quarters of the trials and at the last, and the growth from the
first trial to the last. The goal is about growth with the number of trials, so it is judged after round
WARM_ROUNDS, when every environment, its Docker client and worker, and the analysis between rounds have been
used once: RSS at the end within RSS_GOAL_BYTES of RSS at the end of that round and a least-squares slope from
there on below RSS_SLOPE_GOAL_BYTES per 1,000 trials, and no more descriptors or threads in the last round than
in that round (the most seen in each: a trial's collector thread and its worker's pipes come and go). The
analysis and the report after the last trial are not trials and are not watched. --json keeps every reading.

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
PROGRESS = re.compile(r"^\[(\d+)/(\d+)\] ([rw])(\d+)-")
RSS_GOAL_BYTES = 4 << 20
RSS_SLOPE_GOAL_BYTES = 1 << 20
WARM_ROUNDS = 2


def watch(argv: list[str]) -> tuple[list[dict], int, float]:
    """Run ``argv`` (a vbench run), reading its process at every trial line: the readings, its exit status and
    its wall time."""
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    me = psutil.Process(proc.pid)
    readings: list[dict] = []
    maps: dict[int, dict[str, int]] = {}  # round -> resident KiB by mapping, read at that round's first trial
    assert proc.stdout is not None
    for line in proc.stdout:
        found = PROGRESS.match(line)
        if not found:
            continue
        round_no = int(found[4]) * (1 if found[3] == "r" else -1)
        if round_no > 0 and round_no not in maps:
            maps[round_no] = resident_by_mapping(proc.pid)
        try:
            with me.oneshot():
                readings.append({"trial": int(found[1]), "planned": int(found[2]),
                                 "round": round_no, "t": time.monotonic() - start,
                                 "rss": (mem := me.memory_info()).rss, "anon": mem.rss - mem.shared,
                                 "fds": me.num_fds(), "threads": me.num_threads()})
        except psutil.Error:
            break
        if len(readings) % 100 == 0:
            last = readings[-1]
            print(f"  {last['trial']} trials: rss {last['rss'] / 2**20:.1f} MiB, fds {last['fds']}, "
                  f"threads {last['threads']}", flush=True)
    if readings:
        readings[0]["maps"] = maps  # summarise() takes them out
    return readings, proc.wait(), time.monotonic() - start


def resident_by_mapping(pid: int) -> dict[str, int]:
    """Resident KiB of ``pid`` by what is mapped (a file's path, [heap], [stack]; anonymous memory as "[anon N
    KiB]" by the mapping's size, which tells the allocators apart: 64 MiB for a glibc thread arena's heap, 8 MiB
    and a page for a thread's stack, 1 MiB for Python's object arenas), from /proc/<pid>/smaps; empty once the
    process is gone."""
    out: dict[str, int] = {}
    name = "[anon]"
    try:
        with open(f"/proc/{pid}/smaps") as smaps:
            for line in smaps:
                fields = line.split()
                if "-" in fields[0] and not fields[0].endswith(":"):  # a mapping's header line
                    low, high = (int(x, 16) for x in fields[0].split("-"))
                    name = fields[5] if len(fields) > 5 else f"[anon {(high - low) >> 10} KiB]"
                elif fields[0] == "Rss:":
                    out[name] = out.get(name, 0) + int(fields[1])
    except OSError:
        return {}
    return out


def grown_mappings(maps: dict[int, dict[str, int]], top: int = 6) -> list[tuple[str, int]]:
    """The mappings whose resident size grew most from round WARM_ROUNDS + 1's first trial to the last round's
    first trial (KiB), largest first."""
    later = sorted(r for r in maps if r > WARM_ROUNDS)
    if len(later) < 2:
        return []
    before, after = maps[later[0]], maps[later[-1]]
    grown = {name: after.get(name, 0) - before.get(name, 0) for name in set(before) | set(after)}
    return sorted(grown.items(), key=lambda item: -abs(item[1]))[:top]


def slope_per_1000(readings: list[dict], key: str) -> float:
    """Least-squares growth of ``key`` per 1,000 trials over ``readings``."""
    if len(readings) < 2:
        return 0.0
    xs, ys = [r["trial"] for r in readings], [r[key] for r in readings]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 1000 * sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / var if var else 0.0


def after_warmup(readings: list[dict]) -> tuple[list[dict], list[dict]]:
    """The readings of the measured rounds from the ``WARM_ROUNDS``-th on (the reference: every environment,
    Docker client, worker and the analysis have been used once), and those of the last round. One-off costs
    (the first container, the connection pools, the first interval) belong to the start, not to the number of
    trials; a run with too few rounds is judged from its first reading."""
    measured = [r for r in readings if r["round"] > 0]
    last_round = max((r["round"] for r in measured), default=0)
    if last_round <= WARM_ROUNDS + 1:
        return readings[:1], readings[-1:]
    reference = [r for r in measured if r["round"] == WARM_ROUNDS]
    return reference, [r for r in measured if r["round"] == last_round]


def summarise(name: str, readings: list[dict], code: int, wall: float) -> dict:
    if not readings:
        print(f"{name}: no trial ran (exit {code})")
        return {"run": name, "exit": code, "trials": 0, "meets_goal": False}
    maps = readings[0].pop("maps", {})
    first, last = readings[0], readings[-1]
    print(f"\n{name}: exit {code}, {last['trial']} trials in {wall / 60:.1f} min")
    # anon: the RSS that is not file-backed (the heap, stacks); the rest is code and data of the libraries, paged
    # in as new code paths first run
    print(f"  {'at trial':>9} {'round':>6} {'rss MiB':>9} {'anon MiB':>9} {'fds':>5} {'threads':>8}")
    for share in (0, 0.25, 0.5, 0.75, 1.0):
        r = readings[min(len(readings) - 1, int(share * (len(readings) - 1)))]
        print(f"  {r['trial']:>9} {r['round']:>6} {r['rss'] / 2**20:>9.1f} {r['anon'] / 2**20:>9.1f} {r['fds']:>5} "
              f"{r['threads']:>8}")
    start = {"rss_bytes": last["rss"] - first["rss"], "fds": last["fds"] - first["fds"],
             "threads": last["threads"] - first["threads"]}
    print(f"  first to last trial: rss {start['rss_bytes'] / 2**20:+.1f} MiB, fds {start['fds']:+d}, "
          f"threads {start['threads']:+d}")
    reference, final = after_warmup(readings)
    # Descriptors and threads come and go with each trial (a collector's thread, a pooled connection): the most
    # seen in a round is compared. Memory: the last reading of the reference round against the last reading.
    growth = {"rss_bytes": final[-1]["rss"] - reference[-1]["rss"],
              "fds": max(r["fds"] for r in final) - max(r["fds"] for r in reference),
              "threads": max(r["threads"] for r in final) - max(r["threads"] for r in reference)}
    later = [r for r in readings if r["trial"] >= reference[-1]["trial"]]
    slopes = {key: slope_per_1000(later, key) for key in ("rss", "anon", "fds", "threads")}
    second_half = readings[len(readings) // 2:]
    halves = {key: slope_per_1000(second_half, key) for key in ("rss", "anon")}
    meets = (growth["rss_bytes"] <= RSS_GOAL_BYTES and slopes["rss"] <= RSS_SLOPE_GOAL_BYTES
             and growth["fds"] <= 0 and growth["threads"] <= 0)
    print(f"  from trial {reference[-1]['trial']} (round {reference[-1]['round']}) to the last: "
          f"rss {growth['rss_bytes'] / 2**20:+.1f} MiB ({slopes['rss'] / 2**20:+.2f} MiB per 1,000 trials), "
          f"most fds in a round {growth['fds']:+d}, most threads {growth['threads']:+d}")
    print(f"  second half: rss {halves['rss'] / 2**20:+.2f} MiB, anon {halves['anon'] / 2**20:+.2f} MiB per 1,000 "
          "trials")
    print(f"  goal (after round {WARM_ROUNDS}: rss within {RSS_GOAL_BYTES >> 20} MiB and growing less than "
          f"{RSS_SLOPE_GOAL_BYTES >> 20} MiB per 1,000 trials, no more fds or threads): "
          f"{'met' if meets else 'MISSED'}")
    grown = grown_mappings(maps)
    if grown:
        print("  resident growth by mapping, round {} to round {} (KiB): ".format(
            min(r for r in maps if r > WARM_ROUNDS), max(maps)) + ", ".join(f"{n} {k:+d}" for n, k in grown))
    return {"run": name, "exit": code, "trials": last["trial"], "wall_s": round(wall, 1), "first": first,
            "last": last, "reference": reference[-1], "max_rss": max(r["rss"] for r in readings),
            "growth_from_first": start, "growth": growth, "slope_per_1000": slopes,
            "second_half_per_1000": halves, "meets_goal": meets,
            "readings": readings}


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
