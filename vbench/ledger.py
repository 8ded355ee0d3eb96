"""The ledger every environment writes before it creates anything, and who owns it (a leaf: no vbench imports).

A run's ledger file under the state directory lists its scratch directories, processes, network namespaces and
whether it made Docker objects (labelled ``vbench.run=<run-id>`` and with their owner); ``vbench.reaper``, above
the backends, removes what a dead owner's ledger lists.
"""
from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any, Callable, Mapping

import psutil

LABEL = "vbench.run"
# Who made a Docker object, and which state directory's reaper may remove it once that process is gone.
OWNER_LABEL = "vbench.owner"
STATE_LABEL = "vbench.state"


def default_state_dir() -> Path:
    return Path("/var/tmp/vbench-state")


def state_dir() -> Path:
    """Where ledgers live: $VBENCH_STATE (tests use their own), else the host's."""
    return Path(os.environ.get("VBENCH_STATE") or default_state_dir())


def owner() -> dict:
    """This process, described well enough to tell later whether it is still the same live process."""
    me = psutil.Process()
    return {"pid": me.pid, "create_time": me.create_time(), "boot_id": boot_id()}


def ownership_labels() -> dict[str, str]:
    """Labels that let a reaper tell, from the object alone, whether its maker still lives and whether the
    object is this state directory's to reap (a test's own state directory never reaps the host's objects)."""
    me = owner()
    return {OWNER_LABEL: f"{me['boot_id']}/{me['pid']}/{me['create_time']:.3f}", STATE_LABEL: str(state_dir())}


def owner_label_alive(text: str) -> bool:
    boot, _, rest = text.partition("/")
    pid, _, created = rest.partition("/")
    try:
        return owner_alive({"boot_id": boot, "pid": int(pid), "create_time": float(created)})
    except ValueError:
        return False


def owner_alive(holder: Mapping[str, Any]) -> bool:
    if holder.get("boot_id") != boot_id():
        return False
    return same_process(holder.get("pid"), holder.get("create_time"))


def boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


class Ledger:
    """What this process has created for one run id; the file exists while anything is listed."""

    def __init__(self, run_id: str):
        self.run_id = run_id
        self.path = state_dir() / "owners" / f"{run_id}.{os.getpid()}.json"
        self._lock = threading.Lock()
        self._record = {"run_id": run_id, "owner": None, "dirs": [], "processes": [], "netns": [],
                        "docker": 0}

    def add_dir(self, path: str) -> None:
        self._change(lambda r: r["dirs"].append(os.path.abspath(path)))

    def forget_dir(self, path: str) -> None:
        self._change(lambda r: r["dirs"].remove(os.path.abspath(path)) if os.path.abspath(path) in r["dirs"] else None)

    def add_process(self, pid: int) -> None:
        try:
            created = psutil.Process(pid).create_time()
        except psutil.Error:
            return
        self._change(lambda r: r["processes"].append({"pid": pid, "create_time": created}))

    def forget_process(self, pid: int) -> None:
        self._change(lambda r: r.__setitem__("processes", [p for p in r["processes"] if p["pid"] != pid]))

    def add_netns(self, name: str) -> None:
        self._change(lambda r: r["netns"].append(name))

    def forget_netns(self, name: str) -> None:
        self._change(lambda r: r["netns"].remove(name) if name in r["netns"] else None)

    def add_docker(self) -> None:
        self._change(lambda r: r.__setitem__("docker", r["docker"] + 1))

    def forget_docker(self) -> None:
        self._change(lambda r: r.__setitem__("docker", max(0, r["docker"] - 1)))

    def _change(self, edit: Callable[[dict], object]) -> None:
        with self._lock:
            edit(self._record)
            if any(self._record[k] for k in ("dirs", "processes", "netns", "docker")):
                self._record["owner"] = self._record["owner"] or owner()
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(self._record))
                os.replace(tmp, self.path)
            elif self.path.exists():
                self.path.unlink()


def same_process(pid: int | None, create_time: float | None) -> bool:
    try:
        return pid is not None and abs(psutil.Process(pid).create_time() - (create_time or 0)) < 1.0
    except psutil.Error:
        return False
