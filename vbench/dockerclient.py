"""The Docker engine's client, and removing what a run labelled (a leaf: the Docker backends, the guest image
builder and the reaper use it; it knows no environment)."""
from __future__ import annotations

from vbench.ledger import LABEL, OWNER_LABEL


def docker_client(timeout: int = 120):
    """A client for the local engine, or None when no engine answers."""
    try:
        import docker

        client = docker.from_env(timeout=timeout)
        client.ping()
        return client
    except Exception:  # the SDK raises several types for "no daemon": all mean unavailable
        return None


def remove_labelled(client, run_id: str, env_label: str | None = None, owner: str | None = None) -> list[str]:
    """Remove the containers, volumes and networks of ``run_id`` (and only those; of one environment, of one
    owning process, when given); the names removed."""
    filters = {"label": [f"{LABEL}={run_id}", *([f"vbench.env={env_label}"] if env_label else []),
                         *([f"{OWNER_LABEL}={owner}"] if owner else [])]}
    removed = []
    for container in client.containers.list(all=True, filters=filters):
        container.remove(force=True, v=True)
        removed.append(f"container {container.name}")
    for volume in client.volumes.list(filters=filters):
        volume.remove(force=True)
        removed.append(f"volume {volume.name}")
    for network in client.networks.list(filters=filters):
        network.remove()
        removed.append(f"network {network.name}")
    return removed


def first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
