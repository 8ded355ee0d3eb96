"""Make the ARTIFICIALLY SLOWED copy of a real fixture run: a labelled test fixture, not a measurement.

    .venv/bin/python tests/data/compare/make_slowed.py [SOURCE_RUN_DIR]

Copies the source run (by default the first real run in this folder) to ``<source run id>-slowed`` and divides
every ``throughput`` value of the ``sha256`` case in trials.jsonl by 1.5, so that comparing the source with the
copy must report sha256 exactly 50% slower (A/B - 1 for a higher-is-better metric) and every other case unchanged.
run.json's "note" says what it is.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASE, METRIC, FACTOR = "sha256", "throughput", 1.5
NOTE = (f"ARTIFICIAL test fixture, not a measurement: a copy of run {{source}} with every {METRIC} value of the "
        f"{CASE} case divided by {FACTOR} by tests/data/compare/make_slowed.py")


def slowed(record: dict, run_id: str) -> dict:
    record = {**record, "run_id": run_id}
    if record["case"] == CASE and METRIC in record.get("metrics", {}):
        metric = record["metrics"][METRIC]
        record["metrics"] = {**record["metrics"], METRIC: {**metric, "value": metric["value"] / FACTOR}}
    return record


def main(source: Path) -> Path:
    target = source.with_name(f"{source.name}-slowed")
    target.mkdir()  # refuses to overwrite an existing copy
    meta = json.loads((source / "run.json").read_text())
    meta.update(run_id=target.name, note=NOTE.format(source=source.name))
    (target / "run.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    lines = (source / "trials.jsonl").read_text().splitlines()
    records = [slowed(json.loads(line), target.name) for line in lines if line.strip()]
    (target / "trials.jsonl").write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
    return target


if __name__ == "__main__":
    first = min(p for p in HERE.glob("2*") if p.is_dir() and not p.name.endswith("-slowed"))
    print(main(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else first))
