"""How long this host's runs took, for ``vbench list``'s time estimates (a leaf beside the ledger).

Every run that completes appends one line to ``runs.jsonl`` in the state directory: its suite, whether it was
``--quick``, its environments, its wall time (from start to the end of teardown) and rounds. Reading
keeps the newest line per suite and size. The file is cut to its newest ``KEEP`` lines when it grows past
twice that, so it stays small however many runs a host makes.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vbench.diskspace import append_line, write_atomic
from vbench.errors import VBenchError
from vbench.ledger import state_dir

FILE = "runs.jsonl"
KEEP = 200


def path() -> Path:
    return state_dir() / FILE


def record(entry: dict[str, Any]) -> None:
    """Append ``entry`` (suite, quick, environments, wall_s, rounds, ended_at) as a whole line. A failure to write
    is not the run's: the estimate is a convenience, so an error here is swallowed."""
    target = path()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        append_line(target, (json.dumps(entry, sort_keys=True) + "\n").encode())
        lines = target.read_text().splitlines()
        if len(lines) > 2 * KEEP:
            write_atomic(target, "\n".join(lines[-KEEP:]) + "\n")
    except (OSError, VBenchError):
        pass


def last_runs() -> dict[tuple[str, bool], dict[str, Any]]:
    """The newest completed run per (suite, quick) on this host; {} when there is none or the file is unreadable.
    A line that does not parse (a torn write) is skipped."""
    newest: dict[tuple[str, bool], dict[str, Any]] = {}
    try:
        text = path().read_text()
    except OSError:
        return newest
    for line in text.splitlines():
        try:
            entry = json.loads(line)
            newest[(str(entry["suite"]), bool(entry["quick"]))] = entry
        except (ValueError, KeyError, TypeError):
            continue
    return newest
