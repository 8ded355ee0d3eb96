"""``unshare``: the runner in new PID, mount, UTS and IPC namespaces, and nothing else.

A container's isolation without its image, cgroup, overlay filesystem or network namespace: what the namespaces
alone cost. It is the native environment with one command in front.
"""
from __future__ import annotations

import functools
import shutil
import subprocess

from vbench.envs import Availability
from vbench.envs.native import WORKER, Native
from vbench.envs.workers import ProcessPipe
from vbench.errors import Unavailable
from vbench.procs import host_python

UNSHARE = ["unshare", "--pid", "--fork", "--kill-child", "--mount-proc", "--uts", "--ipc"]


class Unshare(Native):
    kind = "unshare"
    summary = "the runner in new PID, mount, UTS and IPC namespaces (no image, cgroup, overlay or network)"
    variants = ()

    @classmethod
    @functools.cache
    def available(cls) -> Availability:
        if shutil.which("unshare") is None:
            return Availability(False, "unshare(1) is missing (util-linux)")
        tried = subprocess.run([*UNSHARE, "true"], capture_output=True, text=True, timeout=30)
        if tried.returncode != 0:
            return Availability(False, f"unshare failed here: {tried.stderr.strip() or tried.returncode}")
        return Availability(True, "unshare(1) creates namespaces here")

    @property
    def runner_argv(self) -> list[str]:
        return [*UNSHARE, *super().runner_argv]

    def open_worker(self) -> ProcessPipe:
        return ProcessPipe([*UNSHARE, host_python(), str(WORKER)], self.workdir)

    def endpoint(self) -> tuple[str, int]:
        raise Unavailable("unshare keeps the host's network: a network workload would measure native")

    def first_output_s(self, timeout: float) -> float:
        raise Unavailable("unshare does not measure start-up")
