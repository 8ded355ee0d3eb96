"""What the fidelity benchmarks share: the fio jobs, vbench's figure for a job, interleaving and the report."""
from __future__ import annotations

import json
import random
import statistics
from typing import Callable

JOBS = {
    "randread-4k-qd1": ({"rw": "randread", "bs": "4k", "iodepth": 1}, "read", "iops"),
    "seqwrite-1m": ({"rw": "write", "bs": "1M", "iodepth": 16}, "write", "bw_bytes"),
}
SIZE, RUNTIME = "256M", 3.0


def fio_job_args(filename: str, params: dict) -> list[str]:
    """fio's own options for a job, written out independently of vbench's fio wrapper."""
    return ["--name=hand", f"--filename={filename}", f"--rw={params['rw']}", f"--bs={params['bs']}",
            f"--iodepth={params['iodepth']}", f"--size={SIZE}", "--ioengine=libaio", "--direct=1",
            f"--runtime={RUNTIME}", "--time_based", "--lat_percentiles=1", "--output-format=json"]


def fio_figure(output: str, direction: str, field: str) -> float:
    """IOPS, or MiB/s for a bandwidth field, from fio's JSON output."""
    job = json.loads(output[output.index("{"):])["jobs"][0][direction]
    return job[field] if field == "iops" else job[field] / (1 << 20)


def through_vbench(env, params: dict, direction: str) -> float:
    """vbench's figure for the job, through the environment's execute (the path every trial takes)."""
    invocation = {"workload": "io.fio", "params": {**params, "size": SIZE, "runtime": RUNTIME, "direct": "on",
                                                   "ioengine": "libaio"}}
    result = env.execute(invocation, timeout=120).result()
    if not result or not result.get("ok"):
        raise SystemExit(f"vbench trial failed: {result}")
    metric = f"{direction}_iops" if params["rw"].startswith("rand") else f"{direction}_bw"
    return result["metrics"][metric]["value"]


def interleave(env, by_hand: Callable[[dict, str, str], float], rounds: int, seed: int) -> dict:
    """Figures per (job, "vbench"|"hand"), every round running all four in a shuffled order."""
    figures = {(job, who): [] for job in JOBS for who in ("vbench", "hand")}
    rng = random.Random(seed)
    for r in range(rounds):
        order = list(figures)
        rng.shuffle(order)
        for job, who in order:
            params, direction, field = JOBS[job]
            value = through_vbench(env, params, direction) if who == "vbench" else by_hand(params, direction, field)
            figures[job, who].append(value)
        print(f"round {r + 1}/{rounds} done", flush=True)
    return figures


def report(figures: dict, what: str) -> None:
    """Per job the medians and their ratio; last, the geometric mean of the ratios."""
    ratios = []
    for job in JOBS:
        mine, hand = statistics.median(figures[job, "vbench"]), statistics.median(figures[job, "hand"])
        ratios.append(mine / hand)
        print(f"{job}: vbench median {mine:.1f}, {what} {hand:.1f}, ratio {mine / hand:.3f}")
    print(f"fidelity ratio of medians (vbench / {what}), geometric mean over jobs: "
          f"{statistics.geometric_mean(ratios):.3f}")
