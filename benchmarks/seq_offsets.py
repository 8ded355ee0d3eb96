"""Why one side of a sliced I/O block runs faster than another: a run's per-round offsets against native, read
beside when each side's file was laid out and where it landed (issue 28, item 4).

For each case of a run (``vbench run --suite benchmarks/seq-layout.toml``, or any io run), and each environment
but native: the mean and SD over rounds of the per-round log ratio against native (in %, positive = slower, as
the report's overheads), and how often that side's layout ended after native's. Then the layouts: the median
spread of the sides' layout starts and ends in a round (each trial's ``info.layout``), and, where the file system
said where each file lies (``physical_gib``), each side's speed against its round's mean by where its file was:
below or above the run's median offset (natives and containers: a VM's guest sees only its own virtual disk).
A steady offset that follows the side and not the place or the order is neither placement nor recency.

    .venv/bin/python benchmarks/seq_offsets.py results/<run-id> [--case seq-read-1m]
"""
from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vbench.stats import log_cost  # noqa: E402
from vbench.store import iter_records  # noqa: E402

BASELINE = "native"


def rounds_of(run: str, case: str | None) -> dict[str, dict[int, dict[str, dict]]]:
    """case -> round -> environment -> {"value", "higher", "layout"} of the run's measured, finished trials."""
    out: dict[str, dict[int, dict[str, dict]]] = defaultdict(lambda: defaultdict(dict))
    for trial in iter_records(run):
        if trial.get("warmup") or trial.get("status") != "ok" or (case and trial["case"] != case):
            continue
        metric = (trial.get("metrics") or {}).get(trial.get("primary"))
        if not metric:
            continue
        out[trial["case"]][trial["round"]][trial["environment"]] = {
            "value": float(metric["value"]), "higher": bool(metric["higher_is_better"]),
            "layout": (trial.get("info") or {}).get("layout") or {}, "guest": trial.get("env_kind") == "vm"}
    return out


def report(case: str, rounds: dict[int, dict[str, dict]]) -> list[str]:
    lines = [case]
    envs = sorted({env for sides in rounds.values() for env in sides} - {BASELINE})
    for env in envs:
        paired = [(sides[env], sides[BASELINE]) for sides in rounds.values() if env in sides and BASELINE in sides]
        if len(paired) < 2:
            continue
        offsets = list(100 * log_cost([base["value"] for _, base in paired], [side["value"] for side, _ in paired],
                                      paired[0][0]["higher"]))
        later = [side["layout"]["ended_unix"] > base["layout"]["ended_unix"] for side, base in paired
                 if side["layout"].get("ended_unix") and base["layout"].get("ended_unix")]
        order = f"; its layout ended after native's in {sum(later)} of {len(later)}" if later else ""
        lines.append(f"  {env:16s} {statistics.mean(offsets):+6.1f}% (SD {statistics.stdev(offsets):4.1f}, "
                     f"{len(offsets)} rounds){order}")
    spreads = {key: [max(vals) - min(vals) for vals in (
        [s["layout"][key] for s in sides.values() if s["layout"].get(key)] for sides in rounds.values())
        if len(vals) > 1] for key in ("started_unix", "ended_unix")}
    if spreads["ended_unix"]:
        starts = (f"starts {statistics.median(spreads['started_unix']):.3f} s, " if spreads["started_unix"]
                  else "")
        lines.append(f"  layouts in a round: median spread of {starts}ends "
                     f"{statistics.median(spreads['ended_unix']):.3f} s")
    lines += placement(rounds)
    return lines


def placement(rounds: dict[int, dict[str, dict]]) -> list[str]:
    """Each side's speed against its round's mean (in %, positive = faster) by where its file lay on the host's
    disk: a VM's guest says where the file lies on its own virtual disk, one host file, so VMs are left out."""
    rounds = {index: {env: s for env, s in sides.items() if not s["guest"]} for index, sides in rounds.items()}
    where = [s["layout"]["physical_gib"] for sides in rounds.values() for s in sides.values()
             if s["layout"].get("physical_gib") is not None]
    if len(where) < 4:
        return ["  placement: not recorded (a file system without FIEMAP, or a run before it was)"]
    middle = statistics.median(where)
    speed: dict[tuple[str, str], list[float]] = defaultdict(list)
    for sides in rounds.values():
        placed = {env: s for env, s in sides.items() if s["layout"].get("physical_gib") is not None}
        if len(placed) < 2:
            continue
        mean = statistics.mean(math.log(s["value"]) for s in placed.values())
        for env, s in placed.items():
            sign = 1 if s["higher"] else -1
            half = "low" if s["layout"]["physical_gib"] < middle else "high"
            for key in ((env, half), ("every side", half)):
                speed[key].append(sign * 100 * (math.log(s["value"]) - mean))
    lines = [f"  placement: files from {min(where):.1f} to {max(where):.1f} GiB into the device (median "
             f"{middle:.1f}); speed against the round's mean by half:"]
    for env in sorted({env for env, _ in speed}, key=lambda e: (e != "every side", e)):
        cells = [f"{half} {statistics.mean(speed[env, half]):+5.1f}% (n={len(speed[env, half])})"
                 for half in ("low", "high") if speed.get((env, half))]
        lines.append(f"    {env:16s} " + ", ".join(cells))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a run directory (results/<run-id>)")
    parser.add_argument("--case", help="one case only")
    args = parser.parse_args(argv)
    by_case = rounds_of(args.run, args.case)
    if not by_case:
        print(f"seq_offsets: no finished measured trials in {args.run}", file=sys.stderr)
        return 1
    for case in sorted(by_case):
        print("\n".join(report(case, by_case[case])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
