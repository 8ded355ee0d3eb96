"""Fidelity: vbench's native fio figure against the same fio job run by hand in the same directory.

Interleaved rounds (the order shuffled each round) of 4k random read at queue depth 1 and 1 MiB sequential write.
The hand-run job is written out independently of vbench's fio wrapper, from the same parameters. Prints the
ratio of medians (vbench / by hand) per job, and the overall figure last. Goal: 1.00 +- 0.02.

    .venv/bin/python benchmarks/fidelity.py [--rounds 9] [--dir /var/tmp]
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import tempfile

from common import fio_job_args, fio_figure, interleave, report
from vbench.envs.base import Context
from vbench.envs.native import Native
from vbench.model import EnvSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--dir", default="/var/tmp")
    args = parser.parse_args()
    if not shutil.which("fio"):
        raise SystemExit("fio is not installed")
    scratch = tempfile.mkdtemp(prefix="vbench-fidelity-", dir=args.dir)
    try:
        with Native(EnvSpec("native"), Context("fidelity", scratch)) as env:
            def by_hand(params: dict, direction: str, field: str) -> float:
                path = os.path.join(env.workdir, f"hand-{random.getrandbits(32):08x}.dat")
                try:
                    out = subprocess.run(["fio", *fio_job_args(path, params)], capture_output=True, text=True,
                                         check=True).stdout
                finally:
                    if os.path.exists(path):
                        os.unlink(path)
                return fio_figure(out, direction, field)

            figures = interleave(env, by_hand, args.rounds, seed=1)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    report(figures, "fio by hand")


if __name__ == "__main__":
    main()
