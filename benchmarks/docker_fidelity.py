"""Docker fidelity: the same fio job run by hand with `docker run` on a named volume against vbench's
docker:volume figure, interleaved (order shuffled each round). Prints the ratio of medians (vbench / by hand)
per job and the overall figure last. Goal: within 0.95-1.05.

    .venv/bin/python benchmarks/docker_fidelity.py [--rounds 9]
"""
from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import tempfile

from common import fio_job_args, fio_figure, interleave, report
from vbench import envs
from vbench.envs.base import Context
from vbench.images import guest_image

RUN_ID = "bench-docker-fidelity"


def by_hand(volume: str, params: dict, direction: str, field: str, extra: list[str]) -> float:
    """`docker run` of fio on the volume (the docker CLI, not vbench's SDK path); the file removed after."""
    name = f"hand-{random.getrandbits(32):08x}.dat"
    fio = " ".join(["fio", *fio_job_args(name, params)])
    argv = ["docker", "run", "--rm", "--label", f"vbench.run={RUN_ID}", "--network", "none", *extra,
            "-v", f"{volume}:/scratch", "-w", "/scratch", guest_image().tag, "sh", "-c", f"{fio}; rm -f {name}"]
    return fio_figure(subprocess.run(argv, capture_output=True, text=True, check=True).stdout, direction, field)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--hand-counting-rule", action="store_true",
                        help="give the hand-run container the same blkio counting rule vbench sets, to isolate "
                             "what that rule costs")
    args = parser.parse_args()
    spec, cls = envs.resolve("docker:volume")
    availability = cls.available()
    if not availability.ok:
        raise SystemExit(f"docker unavailable: {availability.reason}")
    volume = f"{RUN_ID}-hand"
    subprocess.run(["docker", "volume", "create", "--label", f"vbench.run={RUN_ID}", volume], check=True,
                   capture_output=True)
    scratch = tempfile.mkdtemp(prefix="vbench-docker-fidelity-")
    try:
        with cls(spec, Context(RUN_ID, scratch)) as env:
            rule = env.fingerprint()["blkio_counting_rule"]
            extra = [f"--device-{way}-bps={rule['device']}:{rule['rate_bps']}" for way in ("read", "write")] \
                if args.hand_counting_rule and rule else []
            figures = interleave(env, lambda p, d, f: by_hand(volume, p, d, f, extra), args.rounds, seed=3)
    finally:
        subprocess.run(["docker", "volume", "rm", "-f", volume], capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)
    report(figures, "docker run by hand")


if __name__ == "__main__":
    main()
