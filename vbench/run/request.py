"""What ``vbench run`` was asked to measure, as one object: built from the command line, forwarded by a fleet to
each host's vbench as that host's own command line (``to_argv``).

The fleet's own options (``--host``, ``--ssh-config``, ``--provision``, ``--output``) and a host's (``--run-id``,
``--stream``) are not part of it. Each field names its option; a field at its default is not written.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields
from typing import Any


def option(flag: str, default: Any = None) -> Any:
    return field(default=default, metadata={"flag": flag})


@dataclass(frozen=True)
class RunRequest:
    suite: str | None = option("--suite")
    quick: bool = option("--quick", False)
    env: str | None = option("--env")
    rounds: int | None = option("--min-rounds")
    max_rounds: int | None = option("--max-rounds")
    warmup: int | None = option("--warmup")
    ci_target: float | None = option("--ci-target")
    time_budget: float | None = option("--time-budget")
    timeout: float | None = option("--timeout")
    seed: int | None = option("--seed")
    no_aa: bool = option("--no-aa", False)
    no_slices: bool = option("--no-slices", False)
    no_pin: bool = option("--no-pin", False)
    allow_concurrent: bool = option("--allow-concurrent", False)
    scratch: str = option("--scratch", "/var/tmp/vbench")
    interval: float = option("--interval", 0.1)
    image: str | None = option("--image")
    docker_runtime: str | None = option("--docker-runtime")
    cpus: float | None = option("--container-cpus")
    memory: str | None = option("--container-memory")
    blkio_accounting: bool = option("--blkio-accounting", False)
    accel: str = option("--accel", "auto")
    vcpus: int | None = option("--vcpus")
    vm_memory: int | None = option("--vm-memory")
    agent_grace: float | None = option("--agent-grace")
    vm_disk_size: str | None = option("--vm-disk-size")
    boot_timeout: float | None = option("--boot-timeout")

    @classmethod
    def from_namespace(cls, args: Any) -> "RunRequest":
        """The request in ``vbench run``'s parsed arguments (an argparse Namespace: its dests are the fields)."""
        return cls(**{f.name: getattr(args, f.name) for f in fields(cls)})

    def with_suite(self, path: str | None) -> "RunRequest":
        """The request with its suite file replaced by ``path`` (its copy on another host); None keeps it."""
        return self if path is None else dataclasses.replace(self, suite=path)

    def to_argv(self) -> list[str]:
        """``vbench run``'s options for this request, in the fields' order, those at their default left out."""
        argv: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if value == f.default:
                continue
            if isinstance(value, bool):
                argv.append(f.metadata["flag"])
            elif str(value).startswith("-"):  # a value argparse would take for an option: attached to its flag
                argv.append(f"{f.metadata['flag']}={value}")
            else:
                argv += [f.metadata["flag"], str(value)]
        return argv
