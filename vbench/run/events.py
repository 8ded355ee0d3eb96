"""A run's progress as typed events: what ``vbench run --stream`` writes on stdout, one JSON line each, and what
the fleet (vbench.fleet) reads back from every host's vbench.

Each kind carries its own fields (``FIELDS``); the line is ``{"event": kind, <its fields>}`` with sorted keys.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Mapping

FIELDS: dict[str, tuple[str, ...]] = {
    "started": ("run_dir", "planned"),  # the run directory, and the trials planned so far
    "skipped": ("count",),  # a resumed run's finished trials, kept
    "trial_started": ("what",),  # "round 3 sha256 @ native", the trial (or block) in flight
    "trial": ("record",),  # a finished trial's record, as trials.jsonl keeps it (vbench.store.to_record)
    "replanned": ("planned", "reason"),  # another round, and why
    "note": ("text",),  # a line the run says on the side (a skipped environment)
    "finished": ("run_dir", "failure"),  # the run ended; why it measured nothing, or None
}


@dataclass(frozen=True)
class Event:
    """One progress event; only the fields of its ``kind`` are set."""

    kind: str
    run_dir: str | None = None
    planned: int | None = None
    count: int | None = None
    what: str | None = None
    record: Mapping[str, Any] | None = None
    reason: str | None = None
    text: str | None = None
    failure: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in FIELDS:
            raise ValueError(f"unknown progress event {self.kind!r}; known: {', '.join(FIELDS)}")

    def to_json(self) -> str:
        fields = {name: getattr(self, name) for name in FIELDS[self.kind]}
        return json.dumps({"event": self.kind, **fields}, sort_keys=True, default=str)

    @classmethod
    def from_json(cls, line: str | bytes) -> "Event | None":
        """The event a line holds; None for a line that is not one (a library printing to stdout, a known kind
        without its fields)."""
        try:
            data = json.loads(line)
        except ValueError:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("event"), str) or data["event"] not in FIELDS:
            return None
        kind = data["event"]
        if any(name not in data for name in FIELDS[kind]):
            return None
        return cls(kind, **{name: data[name] for name in FIELDS[kind]})
