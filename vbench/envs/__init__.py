"""Environment backends: an explicit registry of the built-in kinds, and the third-party ones.

``resolve("docker:volume")`` checks the kind and variant and returns the class; ``available`` says whether the
kind can run here and why not. A third-party package adds a kind in the ``vbench.environments`` entry-point group
(``kind = "package.module:Class"``, a subclass of :class:`Environment`).
"""
from __future__ import annotations

import functools
import importlib
import importlib.metadata

from vbench.envs.base import Availability, Context, Environment
from vbench.errors import VBenchError
from vbench.model import EnvSpec

# kind -> "module:Class"; modules are imported when a kind is used, so `vbench --help` stays instant.
BUILTIN: dict[str, str] = {
    "native": "vbench.envs.native:Native",
    "docker": "vbench.envs.docker:Docker",
    "dockernet": "vbench.envs.dockernet:DockerNet",
    "vm": "vbench.envs.qemu:VM",
}
ENTRY_POINTS = "vbench.environments"  # the group a third-party package names its environments in
BUILT_IN = "built-in"


@functools.lru_cache(maxsize=1)
def _third_party() -> dict[str, tuple[str, str]]:
    """kind -> ("module:Class", the distribution and version that declared it)."""
    found = {}
    for point in importlib.metadata.entry_points(group=ENTRY_POINTS):
        origin = f"{point.dist.name} {point.dist.version}" if point.dist else "an entry point"
        where = f"environment {point.name!r} of {origin} (entry point group {ENTRY_POINTS})"
        if point.name in BUILTIN or point.name in found:
            raise VBenchError(f"{where}: the name is taken by {BUILT_IN if point.name in BUILTIN else 'another'}")
        if not point.name.isidentifier() or not point.attr:
            raise VBenchError(f"{where}: write kind = \"package.module:Class\" with an identifier as the kind")
        found[point.name] = (point.value, origin)
    return found


def kinds() -> list[str]:
    """Every environment kind: the built-in ones and the third-party ones."""
    return sorted([*BUILTIN, *_third_party()])


def origin(kind: str) -> str:
    """Where environment ``kind`` comes from: built-in, or the distribution and version that declared it."""
    return _third_party()[kind][1] if kind in _third_party() else BUILT_IN


def env_class(kind: str) -> type[Environment]:
    if kind not in kinds():
        raise VBenchError(f"unknown environment {kind!r}; known: {', '.join(kinds())}")
    target = BUILTIN.get(kind) or _third_party()[kind][0]
    module, _, name = target.partition(":")
    try:
        cls = getattr(importlib.import_module(module), name)
    except Exception as exc:  # a third party's import error, whatever it is, is one line naming the package
        raise VBenchError(f"environment {kind} of {origin(kind)}: {target} cannot be loaded: "
                          f"{type(exc).__name__}: {exc}") from None
    if not (isinstance(cls, type) and issubclass(cls, Environment)) or cls.kind != kind:
        raise VBenchError(f"environment {kind} of {origin(kind)}: {target} is not an Environment whose kind is "
                          f"{kind!r}")
    return cls


def resolve(text: str) -> tuple[EnvSpec, type[Environment]]:
    """The spec and class for ``kind`` or ``kind:variant``; unknown names list the valid ones."""
    spec = EnvSpec.parse(text)
    cls = env_class(spec.kind)
    if spec.variant is None and cls.default_variant:
        spec = EnvSpec(spec.kind, cls.default_variant)
    if spec.variant is not None and spec.variant not in cls.variants:
        valid = ", ".join(cls.variants) or "none"
        raise VBenchError(f"unknown variant {spec.variant!r} of environment {spec.kind!r}; variants: {valid}")
    return spec, cls


__all__ = ["Availability", "BUILTIN", "Context", "Environment", "env_class", "kinds", "origin", "resolve"]
