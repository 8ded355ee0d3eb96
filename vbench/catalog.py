"""The workload catalog: which workloads exist, their parameters and metrics, and parameter validation.

Workloads live in the stdlib-only ``workloads`` package (they are copied into guests), or in a third-party package
that names them in the ``vbench.workloads`` entry-point group (``"kind.name" = "package.module"``; the package is
shared with every environment beside vbench's own). This module reads their declarations on the host side.
Parameters are checked against each workload's ``RULES`` and ``check_params`` (see :mod:`workloads.rules`), the
same declarations the runner checks in the guest, so a suite that would fail every trial is refused before
anything runs.
"""
from __future__ import annotations

import functools
import importlib
import importlib.metadata
import importlib.util
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import workloads
from vbench.errors import VBenchError

WORKLOADS_DIR = Path(workloads.__file__).resolve().parent
RUNNER = WORKLOADS_DIR / "run.py"
ENTRY_POINTS = "vbench.workloads"  # the group a third-party package names its workloads in
BUILT_IN = "built-in"


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


@dataclass(frozen=True)
class Plugin:
    """A third-party workload: its module, the package directory (or module file) to share, and its origin."""

    module: str
    source: Path
    origin: str


@functools.lru_cache(maxsize=1)
def _plugins() -> dict[str, Plugin]:
    found = {}
    for point in importlib.metadata.entry_points(group=ENTRY_POINTS):
        origin = f"{point.dist.name} {point.dist.version}" if point.dist else "an entry point"
        where = f"workload {point.name!r} of {origin} (entry point group {ENTRY_POINTS})"
        if point.name in _names() or point.name in found:
            raise VBenchError(f"{where}: the name is taken by {BUILT_IN if point.name in _names() else 'another'}")
        if len(point.name.split(".")) != 2 or not all(p.isidentifier() for p in point.name.split(".")):
            raise VBenchError(f"{where}: a workload's name is 'kind.name'")
        if point.attr:
            raise VBenchError(f"{where}: name a module ({point.module!r}), not an object in it")
        found[point.name] = Plugin(point.module, _source(point.module, where), origin)
    return found


def _source(module: str, where: str) -> Path:
    """The directory of the module's top-level package (or the top-level module's file): what guests get."""
    try:
        spec = importlib.util.find_spec(module.partition(".")[0])
    except (ImportError, ValueError) as exc:
        raise VBenchError(f"{where}: {exc}") from None
    if spec is None or not (spec.submodule_search_locations or spec.origin):
        raise VBenchError(f"{where}: module {module!r} is not installed")
    return Path(next(iter(spec.submodule_search_locations or [spec.origin]))).resolve()


def workload_names() -> list[str]:
    """Every ``kind.name``: the workloads package's and the third-party ones."""
    return sorted([*_names(), *_plugins()])


def origin(name: str) -> str:
    """Where workload ``name`` comes from: built-in, or the distribution and version that declared it."""
    plugin = _plugins().get(name)
    return plugin.origin if plugin else BUILT_IN


def plugin(name: str) -> Plugin | None:
    """The third-party workload ``name``, or None for a built-in one."""
    return _plugins().get(name)


def plugin_sources() -> list[Path]:
    """The package directories (or module files) of every third-party workload, each once."""
    return sorted({p.source for p in _plugins().values()})


def describe(name: str) -> WorkloadInfo:
    """The declarations of workload ``name``; a clear error naming the valid ones when it does not exist."""
    module = load(name)
    doc = (module.__doc__ or "").strip().splitlines()
    return WorkloadInfo(name, doc[0] if doc else "", dict(module.PARAMS), dict(module.METRICS),
                        getattr(module, "PRIMARY", None))


def load(name: str) -> ModuleType:
    """The module of workload ``name``; a clear error naming the valid ones when it does not exist."""
    if name not in workload_names():
        raise VBenchError(f"unknown workload {name!r}; known: {', '.join(workload_names())}")
    third = _plugins().get(name)
    if third is None:
        return importlib.import_module(f"workloads.{name}")
    try:
        loaded = importlib.import_module(third.module)
    except Exception as exc:  # a third party's import error, whatever it is, is one line naming the package
        raise VBenchError(f"workload {name} of {third.origin}: {third.module} cannot be imported: "
                          f"{type(exc).__name__}: {exc}") from None
    missing = [attr for attr in ("run", "PARAMS", "METRICS", "RULES") if not hasattr(loaded, attr)]
    if missing or getattr(loaded, "PLACEMENT", "guest") != "guest":
        problem = (f"lacks {', '.join(missing)}" if missing else
                   "runs in the environment (PLACEMENT 'guest'); clients and start-up are built-in only")
        raise VBenchError(f"workload {name} of {third.origin}: {third.module} {problem}")
    return loaded


def validate_params(name: str, params: dict[str, Any], where: str) -> dict[str, Any]:
    """``params`` checked against the workload's declared rules, each on its own and (with the defaults filled
    in) together; errors name ``where`` and the field."""
    checked = check_fields(name, params, where)
    check_together(name, checked, where)
    return checked


def check_fields(name: str, params: dict[str, Any], where: str) -> dict[str, Any]:
    """``params`` (some of the workload's parameters, e.g. overrides) each checked against its rule."""
    module = load(name)
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
    module = load(name)
    check = getattr(module, "check_params", None)
    if check is None:
        return
    try:
        check({**module.PARAMS, **params})
    except ValueError as exc:
        raise VBenchError(f"{where}: {exc}") from None
