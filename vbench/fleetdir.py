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
        record = json.loads(file.read_text())
    except (OSError, ValueError) as exc:
        raise VBenchError(f"cannot read {file}: {exc}") from None
    return upgraded(record)


def upgraded(record: dict) -> dict:
    """fleet.json of an older fleet_version as this one reads it (in memory; the file is never rewritten): version
    1 kept a failed host's why in its status ("failed: <why>"), version 2 in its reason."""
    if record.get("fleet_version", 1) < 2:
        hosts = []
        for host in record.get("hosts", []):
            status = str(host.get("status", ""))
            if status.startswith("failed: "):
                host = {**host, "status": "failed", "reason": status[len("failed: "):]}
            hosts.append({"reason": None, **host})
        record = {**record, "hosts": hosts, "fleet_version": 2}
    return record


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
