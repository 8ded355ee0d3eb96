"""Host processes vbench starts: the interpreter native trials use, a command in its own process group with a
timeout, and the network server's start and stop (a leaf: every backend and the environments' base use it)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Callable

from vbench.model import Execution, Handle

OnStart = Callable[[Handle], None]

# The guests run Debian's python3; natively the same interpreter makes the baseline the same bits.
SYSTEM_PYTHON = "/usr/bin/python3"


def host_python() -> str:
    """The interpreter native trials use: $VBENCH_PYTHON, else Debian's python3, else this one."""
    chosen = os.environ.get("VBENCH_PYTHON")
    if chosen:
        return chosen
    return SYSTEM_PYTHON if os.access(SYSTEM_PYTHON, os.X_OK) else sys.executable


def start_server(argv: list[str], timeout: float = 30.0) -> tuple[subprocess.Popen, int]:
    """Start the network workloads' server (``--port 0``) and return it with the port it reports."""
    proc = subprocess.Popen([*argv, "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    line = proc.stdout.readline().split()
    if len(line) != 2 or line[0] != "ready":
        stop_server(proc)
        raise RuntimeError(f"the network server did not start (it said {' '.join(line)!r})")
    return proc, int(line[1])


def stop_server(proc: subprocess.Popen) -> None:
    try:
        proc.terminate()
        proc.wait(5)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        proc.wait()


def run_process(argv: list[str], cwd: str, timeout: float, on_start: OnStart | None) -> Execution:
    """Run ``argv`` in its own process group; on timeout kill the whole group."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, stdin=subprocess.DEVNULL)
    if on_start:
        on_start(Handle(pid=proc.pid))
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        stdout, stderr = proc.communicate()
        timed_out = True
    except BaseException:
        _kill_group(proc)
        proc.wait()
        raise
    return Execution(stdout, stderr, proc.returncode, time.perf_counter() - start, timed_out)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
