"""The workload catalog: which workloads exist, their parameters and metrics, and parameter validation.

Workloads live in the stdlib-only ``workloads`` package (they are copied into guests); this module reads their
declarations on the host side.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import workloads
from vbench.errors import VBenchError
from workloads.units import parse_size

WORKLOADS_DIR = Path(workloads.__file__).resolve().parent
RUNNER = WORKLOADS_DIR / "run.py"


@dataclass(frozen=True)
class WorkloadInfo:
    name: str
    summary: str
    params: dict[str, Any]
    metrics: dict[str, tuple[str, bool]]
    primary: str | None


@functools.lru_cache(maxsize=1)
def _names() -> tuple[str, ...]:
    names = []
    for kind in sorted(p.name for p in WORKLOADS_DIR.iterdir() if (p / "__init__.py").exists()):
        for mod in pkgutil.iter_modules([str(WORKLOADS_DIR / kind)]):
            # helpers start with "_"; a module without run() (the network server) is not a workload
            if not mod.name.startswith("_") and hasattr(importlib.import_module(f"workloads.{kind}.{mod.name}"),
                                                        "run"):
                names.append(f"{kind}.{mod.name}")
    return tuple(sorted(names))


def workload_names() -> list[str]:
    """Every ``kind.name`` in the workloads package."""
    return list(_names())


def describe(name: str) -> WorkloadInfo:
    """The declarations of workload ``name``; a clear error naming the valid ones when it does not exist."""
    if name not in workload_names():
        raise VBenchError(f"unknown workload {name!r}; known: {', '.join(workload_names())}")
    module = importlib.import_module(f"workloads.{name}")
    doc = (module.__doc__ or "").strip().splitlines()
    return WorkloadInfo(name, doc[0] if doc else "", dict(module.PARAMS), dict(module.METRICS),
                        getattr(module, "PRIMARY", None))


def validate_params(name: str, params: dict[str, Any], where: str) -> dict[str, Any]:
    """``params`` checked against the workload's declared parameters; errors name ``where`` and the field."""
    declared = describe(name).params
    checked = {}
    for key, value in params.items():
        field = f"{where}.{key}"
        if key not in declared:
            raise VBenchError(f"{field}: unknown parameter of {name}; known: {', '.join(sorted(declared))}")
        checked[key] = _check_type(field, value, declared[key])
    return checked


def _check_type(field: str, value: Any, default: Any) -> Any:
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise VBenchError(f"{field}: expected true or false, got {value!r}")
        return value
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise VBenchError(f"{field}: expected a number, got {value!r}")
        if isinstance(default, int) and not isinstance(value, int):
            raise VBenchError(f"{field}: expected an integer, got {value!r}")
        if not 0 <= value <= 1e9:  # written so that NaN fails too
            raise VBenchError(f"{field}: {value!r} is out of range (0 to 1e9)")
        return value
    if not isinstance(value, str):
        raise VBenchError(f"{field}: expected a string, got {value!r}")
    if _looks_like_size(default):
        try:
            size = parse_size(value)
        except ValueError as exc:
            raise VBenchError(f"{field}: {exc}") from None
        if size <= 0 or size > 1 << 40:
            raise VBenchError(f"{field}: {value!r} is out of range (1 byte to 1T)")
    return value


def _looks_like_size(default: str) -> bool:
    try:
        parse_size(default)
    except ValueError:
        return False
    return True
