"""SHA-256 throughput of hashlib (OpenSSL) over an in-memory buffer: native-code CPU work with a tiny footprint.

The buffer (``size``, default a few MiB) is hashed whole, again and again; SHA-256 reads it once per pass, so
the rate is bound by the core (and its SHA extensions, which a VM's CPU model may hide), not by memory. The
OpenSSL version goes into info because it decides the code path, and native and guest may have different ones.
"""
from __future__ import annotations

import hashlib
from typing import Any, Callable

from workloads.rules import Number, Size
from workloads.timing import repeat_for
from workloads.units import parse_size

PARAMS: dict[str, Any] = {"seconds": 2.0, "size": "4M"}
RULES = {"seconds": Number(0.001, 3600), "size": Size(1, 1 << 30)}
METRICS = {"throughput": ("MiB/s", True)}
PRIMARY = "throughput"


def openssl_version() -> str | None:
    try:
        import ssl
    except ImportError:  # a Python built without ssl still hashes, through its own code
        return None
    return ssl.OPENSSL_VERSION


def unit(params: dict[str, Any]) -> tuple[Callable[[], object], float, dict[str, Any]]:
    """One call of the work, the MiB it hashes, and the check figures (for sliced trials, workloads/worker.py)."""
    size = parse_size(params["size"])
    buf = (bytes(range(256)) * (size // 256 + 1))[:size]  # the content does not change SHA-256's speed
    return (lambda: hashlib.sha256(buf).digest()), size / 2**20, {"openssl": openssl_version()}


def run(params: dict[str, Any], workdir: str) -> dict[str, Any]:
    size = parse_size(params["size"])
    work, _, _ = unit(params)
    calls, elapsed = repeat_for(work, float(params["seconds"]))
    return {"metrics": {"throughput": calls * size / elapsed / 2**20},
            "info": {"iterations": calls, "bytes": calls * size, "elapsed_s": elapsed,
                     "openssl": openssl_version()}}
