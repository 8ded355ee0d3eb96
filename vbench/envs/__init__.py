"""Environment backends: an explicit registry of the built-in kinds.

``resolve("docker:volume")`` checks the kind and variant and returns the class; ``available`` says whether the
kind can run here and why not.
"""
from __future__ import annotations

import importlib

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


def env_class(kind: str) -> type[Environment]:
    if kind not in BUILTIN:
        raise VBenchError(f"unknown environment {kind!r}; known: {', '.join(sorted(BUILTIN))}")
    module, _, name = BUILTIN[kind].partition(":")
    return getattr(importlib.import_module(module), name)


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


__all__ = ["Availability", "BUILTIN", "Context", "Environment", "env_class", "resolve"]
