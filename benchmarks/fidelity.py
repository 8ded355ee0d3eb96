"""Fidelity: vbench's native fio figure against the same fio job run by hand in the same directory.

Interleaved rounds (the order shuffled each round) of 4k random read at queue depth 1 and 1 MiB sequential write.
The hand-run job is written out here independently of vbench's fio wrapper, from the same parameters. Prints
the ratio of medians (vbench / by hand) per job, and the overall figure last. Goal: 1.00 +- 0.02.

    .venv/bin/python benchmarks/fidelity.py [--rounds 9] [--dir /var/tmp/vbench-fidelity]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile

from vbench.envs.base import Context
from vbench.envs.native import Native
from vbench.model import EnvSpec

JOBS = {
    "randread-4k-qd1": ({"rw": "randread", "bs": "4k", "iodepth": 1}, "read", "iops"),
    "seqwrite-1m": ({"rw": "write", "bs": "1M", "iodepth": 16}, "write", "bw_bytes"),
}
SIZE, RUNTIME = "256M", 3.0


def by_hand(workdir: str, params: dict, direction: str, field: str) -> float:
    """fio run directly: fresh file, direct I/O, libaio, time based; the figure vbench reports for the job."""
    path = os.path.join(workdir, f"hand-{random.getrandbits(32):08x}.dat")
    argv = ["fio", "--name=hand", f"--filename={path}", f"--rw={params['rw']}", f"--bs={params['bs']}",
            f"--iodepth={params['iodepth']}", f"--size={SIZE}", "--ioengine=libaio", "--direct=1",
            f"--runtime={RUNTIME}", "--time_based", "--lat_percentiles=1", "--output-format=json"]
    try:
        out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    finally:
        if os.path.exists(path):
            os.unlink(path)
    job = json.loads(out[out.index("{"):])["jobs"][0][direction]
    return job[field] if field == "iops" else job[field] / (1 << 20)


def through_vbench(env: Native, params: dict, direction: str) -> float:
    invocation = {"workload": "io.fio", "params": {**params, "size": SIZE, "runtime": RUNTIME, "direct": "on",
                                                   "ioengine": "libaio"}}
    result = env.execute(invocation, timeout=120).result()
    if not result or not result.get("ok"):
        raise SystemExit(f"vbench trial failed: {result}")
    metric = f"{direction}_iops" if params["rw"].startswith("rand") else f"{direction}_bw"
    return result["metrics"][metric]["value"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--dir", default="/var/tmp")
    args = parser.parse_args()
    if not shutil.which("fio"):
        raise SystemExit("fio is not installed")
    scratch = tempfile.mkdtemp(prefix="vbench-fidelity-", dir=args.dir)
    figures = {(job, who): [] for job in JOBS for who in ("vbench", "hand")}
    try:
        with Native(EnvSpec("native"), Context("fidelity", scratch)) as env:
            rng = random.Random(1)
            for r in range(args.rounds):
                order = [(job, who) for job in JOBS for who in ("vbench", "hand")]
                rng.shuffle(order)
                for job, who in order:
                    params, direction, field = JOBS[job]
                    value = (through_vbench(env, params, direction) if who == "vbench"
                             else by_hand(env.workdir, params, direction, field))
                    figures[job, who].append(value)
                print(f"round {r + 1}/{args.rounds} done", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    ratios = []
    for job in JOBS:
        mine, hand = statistics.median(figures[job, "vbench"]), statistics.median(figures[job, "hand"])
        ratios.append(mine / hand)
        print(f"{job}: vbench median {mine:.1f}, by hand {hand:.1f}, ratio {mine / hand:.3f}")
    print(f"fidelity ratio of medians (vbench / fio by hand), geometric mean over jobs: "
          f"{statistics.geometric_mean(ratios):.3f}")


if __name__ == "__main__":
    main()
