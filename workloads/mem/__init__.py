"""Memory workloads: STREAM-like bandwidth and random-access (GUPS-like, pointer-chase) latency.

The helper below is shared by the family: the optional numpy import both workloads gate their numpy paths on.
"""
from __future__ import annotations

from typing import Any


def import_numpy(wanted: bool) -> Any | None:
    """numpy if ``wanted`` and installed, else None (numpy=False lets a suite keep every environment on one path)."""
    if not wanted:
        return None
    try:
        import numpy
    except ImportError:
        return None
    return numpy
