"""Nothing leaked: a ledger of what each run creates, and a reaper for runs whose vbench process is gone.

Every environment writes what it is about to create (scratch directories, QEMU and virtiofsd processes, network
namespaces, Docker objects labelled ``vbench.run=<run-id>``) into a ledger file under the state directory before
the resource exists, and forgets it once torn down. A vbench killed with SIGKILL leaves its ledger behind; the next
``vbench run`` or ``vbench clean`` finds ledgers whose owner process is dead and removes exactly what they list,
plus Docker objects carrying a vbench label that no ledger accounts for. Nothing else is touched.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import threading
from pathlib import Path
from typing import Callable

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


def _owner_label_alive(text: str) -> bool:
    boot, _, rest = text.partition("/")
    pid, _, created = rest.partition("/")
    try:
        return owner_alive({"boot_id": boot, "pid": int(pid), "create_time": float(created)})
    except ValueError:
        return False


def owner_alive(holder: dict) -> bool:
    if holder.get("boot_id") != boot_id():
        return False
    return _same_process(holder.get("pid"), holder.get("create_time"))


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


def reap(say: Callable[[str], None] = lambda text: None) -> list[str]:
    """Remove what runs with a dead owner left behind; the list of what was removed."""
    removed = []
    owners = state_dir() / "owners"
    live_runs = set()
    for file in sorted(owners.glob("*.json")) if owners.is_dir() else []:
        try:
            record = json.loads(file.read_text())
        except (OSError, ValueError):
            continue
        if owner_alive(record.get("owner") or {}):
            live_runs.add(record["run_id"])
            continue
        removed += _reap_record(record)
        file.unlink(missing_ok=True)
    removed += _reap_docker(live_runs, say)
    for item in removed:
        say(f"removed {item} left by an interrupted run")
    return removed


def _reap_record(record: dict) -> list[str]:
    removed = []
    for proc in record.get("processes", []):
        if _same_process(proc["pid"], proc["create_time"]):
            try:
                os.kill(proc["pid"], signal.SIGKILL)
                removed.append(f"process {proc['pid']}")
            except ProcessLookupError:
                pass
    for name in record.get("netns", []):  # after its processes: the namespace goes once nothing holds it
        from vbench.envs.netns import delete_netns

        if delete_netns(name):
            removed.append(f"network namespace {name}")
    for directory in record.get("dirs", []):
        if os.path.isdir(directory):
            shutil.rmtree(directory, ignore_errors=True)
            removed.append(f"directory {directory}")
    return removed


def _reap_docker(live_runs: set[str], say: Callable[[str], None]) -> list[str]:
    """Docker objects labelled by vbench for this state directory whose maker is gone."""
    from vbench.envs.docker import docker_client

    client = docker_client(timeout=10)
    if client is None:
        return []
    try:
        return _reap_labelled(client, live_runs)
    except Exception as exc:  # the engine stopped answering mid-way: what is left is found again next time
        say(f"could not finish removing Docker leftovers: {(str(exc).splitlines() or [type(exc).__name__])[0][:200]}")
        return []
    finally:
        client.close()


def _reap_labelled(client, live_runs: set[str]) -> list[str]:
    from vbench.envs.docker import remove_labelled

    labels = [c.labels for c in client.containers.list(all=True, filters={"label": LABEL})]
    labels += [v.attrs.get("Labels") or {} for v in client.volumes.list(filters={"label": LABEL})]
    labels += [n.attrs.get("Labels") or {} for n in client.networks.list(filters={"label": LABEL})]
    orphans = {(found[LABEL], found.get(OWNER_LABEL)) for found in labels if is_orphan(found, live_runs)}
    return [item for run, maker in sorted(orphans, key=str) for item in remove_labelled(client, run, owner=maker)]


def is_orphan(labels: dict, live_runs: set[str]) -> bool:
    """Whether a Docker object with these labels is this state directory's to reap: made for it, by a process
    that is gone (objects from before the owner label: when no live ledger lists their run) (pure but for
    the liveness check)."""
    run = labels.get(LABEL)
    if not run or labels.get(STATE_LABEL, str(default_state_dir())) != str(state_dir()):
        return False
    maker = labels.get(OWNER_LABEL)
    if maker is None:
        return run not in live_runs
    return not _owner_label_alive(maker)


def _same_process(pid: int | None, create_time: float | None) -> bool:
    try:
        return pid is not None and abs(psutil.Process(pid).create_time() - (create_time or 0)) < 1.0
    except psutil.Error:
        return False
