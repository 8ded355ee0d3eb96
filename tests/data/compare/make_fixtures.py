"""Make the two real runs that tests/test_compare.py compares: the same tiny suite run twice, natively, here.

    .venv/bin/python tests/data/compare/make_fixtures.py

Each run is a real `vbench` run through the Python API. Only what the store does not read is removed afterwards,
to keep the fixtures a few KB: the samples/ directory and, in each trial line, the collector summaries, the
guest-side CPU accounting and the pointer to the deleted samples file. Every measured value is kept as measured.
Then make_slowed.py makes the labelled, artificially slowed copy of the first run.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from vbench.run.lifecycle import run_suite
from vbench.run.options import RunOptions
from vbench.suite import parse_suite

HERE = Path(__file__).resolve().parent
SUITE = {
    "name": "compare-fixture",
    "description": "two fast cpu workloads, for the compare tests",
    "environments": ["native"],
    "plan": {"warmup_rounds": 1, "min_rounds": 5, "max_rounds": 5, "timeout_s": 60},
    "workload": [
        {"name": "sha256", "use": "cpu.sha256", "params": {"seconds": 0.1}},
        {"name": "pyloop", "use": "cpu.pyloop", "params": {"seconds": 0.1}},
    ],
}
UNREAD = ("collectors", "guest", "samples")


def trim(run: Path) -> None:
    """Drop the samples and the trial fields the store does not load."""
    shutil.rmtree(run / "samples", ignore_errors=True)
    trials = run / "trials.jsonl"
    records = [json.loads(line) for line in trials.read_text().splitlines() if line.strip()]
    trials.write_text("".join(json.dumps({k: v for k, v in r.items() if k not in UNREAD}, sort_keys=True) + "\n"
                              for r in records))


def main() -> None:
    suite = parse_suite(SUITE, "make_fixtures.py")
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(2):
            run = run_suite(suite, ["native"], RunOptions(results_dir=HERE, scratch_root=scratch))
            trim(run)
            print(run)


if __name__ == "__main__":
    main()
