"""vbench: what virtualization really costs, measured natively, in containers and in virtual machines."""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load"]


def load(path):
    """The trials of a run as a tidy pandas DataFrame: one row per trial and metric.

    ``path`` is a run directory (``results/<run-id>``) or its ``trials.jsonl``, or a fleet's directory
    (``vbench run --host``), whose hosts' trials come together with the host as a column.
    """
    from vbench.fleetdir import load_fleet, read_fleet
    from vbench.store import load_trials

    return load_fleet(path) if read_fleet(path) is not None else load_trials(path)
