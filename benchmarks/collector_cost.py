"""Collector cost: the CPU-loop score with the 10 Hz psutil collector watching it vs without, interleaved.

Prints the ratio of medians (with / without) last. Goal: >= 0.995 (the collector costs under half a percent).

    .venv/bin/python benchmarks/collector_cost.py [--rounds 15] [--seconds 1.0]
"""
from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile

from vbench.collectors.process import ProcessCollector
from vbench.envs.base import Context
from vbench.envs.native import Native
from vbench.model import EnvSpec


def score(env: Native, seconds: float, collect: bool) -> float:
    invocation = {"workload": "cpu.pyloop", "params": {"seconds": seconds}}
    collector = ProcessCollector(interval=0.1) if collect else None
    if collector:
        collector.start()
    try:
        result = env.execute(invocation, timeout=60, on_start=collector.attach if collector else None).result()
    finally:
        if collector:
            summary = collector.stop()
            assert summary["samples"] >= seconds * 5, summary  # it really sampled
    return result["metrics"]["ops"]["value"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=1.0)
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="vbench-collector-")
    scores = {True: [], False: []}
    try:
        with Native(EnvSpec("native"), Context("collector-cost", scratch)) as env:
            score(env, args.seconds, False)  # warm up the interpreter and caches
            rng = random.Random(2)
            for _ in range(args.rounds):
                order = [True, False]
                rng.shuffle(order)
                for collect in order:
                    scores[collect].append(score(env, args.seconds, collect))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    with_c, without = statistics.median(scores[True]), statistics.median(scores[False])
    print(f"pyloop ops/s: with collector {with_c:.4g}, without {without:.4g} ({args.rounds} rounds each)")
    print(f"collector cost ratio of medians (with / without): {with_c / without:.4f}")


if __name__ == "__main__":
    main()
