"""Start-up latency: from asking for a fresh instance of the environment to its first output.

Natively: fork/exec of python3 to its first printed line. In a container: create, start and the first line
of a new container (per runtime). In a VM: QEMU start to the guest agent's first answer (per accelerator and
kernel). The environment measures it with the host's clock; nothing runs inside an existing instance.
"""
from __future__ import annotations

from typing import Any

PARAMS: dict[str, Any] = {}
RULES: dict[str, Any] = {}
METRICS = {"first_output": ("s", False)}
PRIMARY = "first_output"
PLACEMENT = "environment"  # the environment measures this; run() is never called inside a guest


def run(params: dict[str, Any], workdir: str) -> dict[str, Any]:
    raise RuntimeError("startup.first_output is measured by the environment, not run inside it")
