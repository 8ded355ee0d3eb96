"""Shared fixtures: the repository root, a tiny suite file and a finished tiny run."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
VBENCH = [sys.executable, "-m", "vbench.cli"]

TINY_SUITE = """
name = "tiny"
description = "two fast workloads for tests"
environments = ["native"]

[plan]
warmup_rounds = 1
min_rounds = 2
max_rounds = 2
timeout_s = 60

[[workload]]
name = "sha"
use = "cpu.sha256"
params = { seconds = 0.05, size = "256k" }

[[workload]]
name = "loop"
use = "cpu.pyloop"
params = { seconds = 0.05 }
"""


@pytest.fixture(scope="session", autouse=True)
def own_state_dir(tmp_path_factory):
    """The tests' own reaper state directory (inherited by every vbench they start): a test's `vbench clean` reaps
    only what the tests made, never the ledgers or labelled objects of the host's own runs."""
    state = tmp_path_factory.mktemp("vbench-state")
    previous = os.environ.get("VBENCH_STATE")
    os.environ["VBENCH_STATE"] = str(state)
    yield state
    if previous is None:
        os.environ.pop("VBENCH_STATE", None)
    else:
        os.environ["VBENCH_STATE"] = previous


@pytest.fixture(autouse=True)
def no_run_left_measuring(own_state_dir):
    """After each test, no vbench it started still holds the tests' measuring lock: one that does (a run that did
    not stop when told to) would refuse every later test's run. It is killed, and this test fails naming it."""
    yield
    import psutil

    from vbench import hostlock

    holder = hostlock.held_by(own_state_dir / hostlock.LOCK_FILE)
    if holder is None:
        return
    pid = holder.get("pid")
    ours = {p.pid for p in psutil.Process().children(recursive=True)}
    if pid in ours:
        with contextlib.suppress(psutil.NoSuchProcess):  # it ended since the lock was read
            victim = psutil.Process(pid)
            victim.kill()
            victim.wait(30)
    pytest.fail(f"this test left {hostlock.describe(holder)} holding the measuring lock"
                + (" (killed)" if pid in ours else " (not a process of these tests: left alone)"))


def default_sigint() -> None:
    """A ``preexec_fn`` for a vbench a test interrupts with SIGINT: a shell starts a background job (CI's, say)
    with SIGINT ignored, Python keeps an inherited SIG_IGN, and Ctrl-C would then never reach the run."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def require_environment(kind: str) -> None:
    """Skip the calling test module when ``kind`` cannot run here; in CI (CI=true) fail instead: CI installs
    and starts what every environment needs, so an unavailable one there is a broken setup, not a skip."""
    from vbench import envs

    availability = envs.env_class(kind).available()
    if availability.ok:
        return
    if os.environ.get("CI"):
        raise RuntimeError(f"CI must run the {kind} tests, but {kind} is unavailable: {availability.reason}")
    pytest.skip(f"{kind} unavailable: {availability.reason}", allow_module_level=True)


@pytest.fixture
def tiny_suite(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(textwrap.dedent(TINY_SUITE))
    return path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One real native run of the tiny suite through the Python API (shared by read-only tests)."""
    from vbench.run.lifecycle import run_suite
    from vbench.run.options import RunOptions
    from vbench.suite import parse_suite
    import tomllib

    base = tmp_path_factory.mktemp("tiny-run")
    suite = parse_suite(tomllib.loads(TINY_SUITE), "tiny.toml")
    options = RunOptions(results_dir=base / "results", scratch_root=str(base / "scratch"), seed=7, aa_control=False)
    return run_suite(suite, ["native"], options)


@pytest.fixture
def small_fs(tmp_path):
    """``small_fs(size)`` mounts a tmpfs of its own for the test (root only; else a skip with the reason), so
    filling it fills nothing else; unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "small"
    mount.mkdir()

    def mounted(size: str) -> Path:
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(mount)],
                              capture_output=True, text=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
        return mount

    yield mounted
    subprocess.run(["umount", "-l", str(mount)], capture_output=True)
