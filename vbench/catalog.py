"""The workload catalog: which workloads exist, their parameters and metrics, and parameter validation.

Workloads live in the stdlib-only ``workloads`` package (they are copied into guests); this module reads their
declarations on the host side. Parameters are checked against each workload's ``RULES`` and ``check_params``
(see :mod:`workloads.rules`), the same declarations the runner checks in the guest, so a suite that would fail
every trial is refused before anything runs.
"""
from __future__ import annotations

import functools
import importlib
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import workloads
from vbench.errors import VBenchError

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
    module = _module(name)
    doc = (module.__doc__ or "").strip().splitlines()
    return WorkloadInfo(name, doc[0] if doc else "", dict(module.PARAMS), dict(module.METRICS),
                        getattr(module, "PRIMARY", None))


def _module(name: str) -> ModuleType:
    if name not in workload_names():
        raise VBenchError(f"unknown workload {name!r}; known: {', '.join(workload_names())}")
    return importlib.import_module(f"workloads.{name}")


def validate_params(name: str, params: dict[str, Any], where: str) -> dict[str, Any]:
    """``params`` checked against the workload's declared rules, each on its own and (with the defaults filled
    in) together; errors name ``where`` and the field."""
    checked = check_fields(name, params, where)
    check_together(name, checked, where)
    return checked


def check_fields(name: str, params: dict[str, Any], where: str) -> dict[str, Any]:
    """``params`` (some of the workload's parameters, e.g. overrides) each checked against its rule."""
    module = _module(name)
    for key, value in params.items():
        field = f"{where}.{key}"
        if key not in module.PARAMS:
            raise VBenchError(f"{field}: unknown parameter of {name}; known: {', '.join(sorted(module.PARAMS))}")
        problem = module.RULES[key].problem(value)
        if problem is not None:
            raise VBenchError(f"{field}: {problem}")
    return dict(params)


def check_together(name: str, params: dict[str, Any], where: str) -> None:
    """The workload's own check of how its parameters relate (``check_params``), on ``params`` over the defaults
    (the same call the runner makes in the guest)."""
    module = _module(name)
    check = getattr(module, "check_params", None)
    if check is None:
        return
    try:
        check({**module.PARAMS, **params})
    except ValueError as exc:
        raise VBenchError(f"{where}: {exc}") from None
