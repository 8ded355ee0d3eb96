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
from typing import Callable

# The ledger is a leaf every environment writes; the names reaping reads (and the tests ask of it) come from it.
from vbench.ledger import (LABEL, OWNER_LABEL, STATE_LABEL, Ledger, owner_label_alive, same_process,  # noqa: F401
                           default_state_dir, owner_alive, ownership_labels, state_dir)


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
        if same_process(proc["pid"], proc["create_time"]):
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
    from vbench.dockerclient import docker_client

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
    from vbench.dockerclient import remove_labelled

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
    return not owner_label_alive(maker)
