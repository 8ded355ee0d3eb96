"""A fleet's directory as the readers see it: ``fleet.json`` and ``hosts/<host>/``, each a run directory. A leaf
for ``vbench.load`` and the report (vbench.fleet, which runs fleets, needs the package's version and ssh)."""
from __future__ import annotations

import json
from pathlib import Path

from vbench.errors import VBenchError

FLEET_FILE = "fleet.json"
HOSTS_DIR = "hosts"


def read_fleet(path: str | Path) -> dict | None:
    """fleet.json of a fleet directory, or None when ``path`` is not one."""
    file = Path(path) / FLEET_FILE
    if not file.is_file():
        return None
    try:
        return json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise VBenchError(f"cannot read {file}: {exc}") from None


def load_fleet(path: str | Path):
    """The trials of every host of a fleet as one tidy DataFrame, with the host as a column."""
    import pandas as pd

    from vbench.store import load_trials

    fleet = read_fleet(path)
    frames = []
    for host in fleet["hosts"]:
        directory = Path(path) / HOSTS_DIR / host["label"]
        if (directory / "run.json").is_file():
            frame = load_trials(directory)
            frames.append(frame.assign(host=host["label"]))
    if not frames:
        raise VBenchError(f"{path}: no host of this fleet has a run yet")
    frame = pd.concat(frames, ignore_index=True)
    frame.attrs["fleet"] = fleet
    return frame
