"""vbench: what virtualization really costs, measured natively, in containers and in virtual machines."""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load"]


def load(path):
    """The trials of a run as a tidy pandas DataFrame: one row per trial and metric.

    ``path`` is a run directory (``results/<run-id>``) or its ``trials.jsonl``.
    """
    from vbench.store import load_trials

    return load_trials(path)
