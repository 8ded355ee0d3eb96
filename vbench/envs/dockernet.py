"""``dockernet``: the network workloads' server in a container, reached over one of Docker's network paths.

The client's clock decides every figure; the baseline is ``native`` (client and server on the host's loopback).
Variants, the path between client and server:

- ``bridge``: host to the container's address on the default bridge (docker0),
- ``user-bridge``: host to the container's address on a user-defined bridge network,
- ``host``: ``--network host``, server on the host's loopback inside the host's network namespace,
- ``published``: host to a ``-p 127.0.0.1:P`` port: through docker-proxy (the userland proxy; loopback
  destinations are not NATed by the kernel),
- ``published-dnat``: host to ``-p P`` on the host's own non-loopback address: kernel DNAT (iptables),
- ``c2c-bridge``, ``c2c-user-bridge``: container to container, the client in a peer container on the
  default or a user-defined bridge.

Everything created carries ``vbench.run=<run-id>`` and is removed at teardown (and by the reaper).
"""
from __future__ import annotations

import math
import signal
import socket
import time
from dataclasses import replace

import psutil

from vbench.dockerclient import docker_client, remove_labelled
from vbench.dockerclient import first_line as _first_line
from vbench.envs.base import TOOL_PORTS, Availability, Environment, OnStart, free_port, tool_servers_sh, wait_serving
from vbench.envs.docker import default_tag, shared_mounts
from vbench.errors import Unavailable, VBenchError
from vbench.ledger import LABEL, ownership_labels
from vbench.model import GUEST_PLUGINS, GUEST_ROOT, SERVER_PORT, Execution, Handle

PATHS = {
    "bridge": "host -> container IP on docker0 (bridge)",
    "user-bridge": "host -> container IP on a user-defined bridge",
    "host": "--network host (no network namespace)",
    "published": "host -> 127.0.0.1:P -> docker-proxy -> container",
    "published-dnat": "host -> <host address>:P -> kernel DNAT -> container",
    "c2c-bridge": "peer container -> container on docker0",
    "c2c-user-bridge": "peer container -> container on a user-defined bridge",
}


class DockerNet(Environment):
    kind = "dockernet"
    summary = "the network server in a container; bridge, user bridge, host network, published ports, c2c"
    variants = tuple(PATHS)
    default_variant = "bridge"
    guest_workloads = False  # only the network workloads' server runs in it

    def __init__(self, spec, context):
        super().__init__(spec, context)
        self.client = None
        self.server = None
        self.peer = None
        self.network = None
        self._endpoint: tuple[str, int] | None = None
        self._tool_ports: dict[str, int] = {}

    @classmethod
    def available(cls) -> Availability:
        from vbench.envs.docker import Docker

        return Docker.available()

    @property
    def workdir(self) -> str:
        return "/tmp"

    @property
    def runner_argv(self) -> list[str]:
        return ["python3", f"{GUEST_ROOT}/workloads/run.py"]

    def plugin_paths(self) -> list[str]:
        return [GUEST_PLUGINS]

    def transport(self, argv: list[str], timeout: float, on_start: OnStart | None) -> Execution:
        return Execution("", f"{self.spec.label} runs only network workloads (net.*)", 1, 0.0)

    def provision(self) -> None:
        self.client = docker_client()
        if self.client is None:
            raise Unavailable("the Docker engine stopped answering")
        self.context.ledger.add_docker()
        labels = {LABEL: self.context.run_id, "vbench.env": self.spec.label, **ownership_labels()}
        variant = self.spec.variant
        if variant.endswith("user-bridge"):
            self.network = self.client.networks.create(f"vbench-{self.context.run_id}-{variant}", driver="bridge",
                                                       labels=labels)
        network = self.network.name if self.network else ("host" if variant == "host" else "bridge")
        # (port inside the container, port the client dials) of the vbench server and of each tool's server
        ports = {"port": SERVER_PORT, **TOOL_PORTS}
        if variant == "host":
            ports = {key: free_port() for key in ports}
        dialled = {key: free_port() for key in ports} if variant.startswith("published") else dict(ports)
        bind = "127.0.0.1" if variant == "host" else "0.0.0.0"
        publish = {}
        if variant.startswith("published"):
            address = "127.0.0.1" if variant == "published" else "0.0.0.0"
            publish = {f"{ports[key]}/{proto}": (address, dialled[key]) for key in ports for proto in ("tcp", "udp")}
        script = (tool_servers_sh(bind, {key: ports[key] for key in TOOL_PORTS})
                  + f"exec python3 {GUEST_ROOT}/workloads/net/server.py --port {ports['port']} --bind {bind}")
        try:
            self.server = self._start(["sh", "-c", script], labels, network, publish, "server")
            self._wait_ready(self.server)
            if variant.startswith("c2c"):
                self.peer = self._start(["sleep", "infinity"], labels, network, {}, "peer")
        except VBenchError:
            raise
        except Exception as exc:
            raise VBenchError(f"cannot start the {self.spec.label} containers: {_first_line(exc)}") from None
        host = self._address(dialled["port"])
        self._endpoint = (host, dialled["port"])
        self._tool_ports = {key: dialled[key] for key in TOOL_PORTS if wait_serving(host, dialled[key])}

    def _start(self, command: list[str], labels: dict, network: str, publish: dict, role: str):
        return self.client.containers.run(
            self.context.options.image or default_tag(), command, detach=True, labels=labels,
            network=network if network not in ("host", "bridge") else None,
            network_mode=network if network in ("host", "bridge") else None, ports=publish or None,
            volumes=shared_mounts(),
            cap_drop=["ALL"], security_opt=["no-new-privileges"],
            name=f"vbench-{self.context.run_id}-{self.spec.variant}-{role}")

    def _wait_ready(self, container, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if b"ready" in container.logs(stdout=True, stderr=False):
                return
            container.reload()
            if container.status == "exited":
                break
            time.sleep(0.05)
        raise VBenchError(f"the {self.spec.label} server did not start: {container.logs()[-300:]!r}")

    def _address(self, port: int) -> str:
        variant = self.spec.variant
        if variant in ("host", "published"):
            return "127.0.0.1"
        if variant == "published-dnat":
            return host_address()
        self.server.reload()
        networks = self.server.attrs["NetworkSettings"]["Networks"]
        return next(iter(networks.values()))["IPAddress"]

    def endpoint(self) -> tuple[str, int]:
        if self._endpoint is None:
            raise Unavailable(f"{self.spec.label} was not provisioned")
        return self._endpoint

    def tool_ports(self) -> dict[str, int]:
        return dict(self._tool_ports)

    def client_transport(self, argv: list[str], timeout: float, on_start: OnStart | None) -> Execution:
        if self.peer is None:
            proxies = tuple(self._proxy_pids())

            def started(handle: Handle) -> None:
                if on_start:
                    on_start(replace(handle, extra_pids=proxies))  # docker-proxy carries a published port

            return super().client_transport(argv, timeout, started)
        start = time.perf_counter()
        # Short, fixed-duration clients; exec_run has no timeout of its own, so coreutils' timeout is one.
        limit = max(1, math.ceil(timeout))
        code, (out, err) = self.peer.exec_run(["timeout", "-s", "KILL", str(limit), *argv], demux=True)
        wall = time.perf_counter() - start
        return Execution((out or b"").decode(errors="replace"), (err or b"").decode(errors="replace"), code, wall,
                         timed_out=code == 128 + signal.SIGKILL and wall >= limit)  # timeout(1) killed it

    def client_runner_argv(self) -> list[str]:
        return self.runner_argv if self.peer is not None else super().client_runner_argv()

    def teardown(self) -> None:
        if self.client is None:
            return
        try:
            remove_labelled(self.client, self.context.run_id, self.spec.label)
            self.context.ledger.forget_docker()
        except Exception as exc:  # a dead engine: the ledger keeps the run listed for `vbench clean`
            self.lifecycle.notes.append(f"could not remove the containers: {_first_line(exc)}")
        finally:
            self.client.close()
            self.client = None

    def _proxy_pids(self) -> list[int]:
        served = [*(self._endpoint[1:] if self._endpoint else ()), *self._tool_ports.values()]
        ports = {f"-host-port {port}" for port in served}
        return [p.pid for p in psutil.process_iter(["name", "cmdline"]) if p.info["name"] == "docker-proxy"
                and any(port in " ".join(p.info["cmdline"] or []) for port in ports)]

    def fingerprint(self) -> dict:
        host, port = self._endpoint or (None, None)
        proxies = self._proxy_pids()
        return {**super().fingerprint(), "path": path_of(self.spec.variant, proxies), "server": f"{host}:{port}",
                "docker_proxy_pids": proxies, "userland_proxy": bool(proxies), "tool_ports": self._tool_ports,
                "network": self.network.name if self.network else None}


def path_of(variant: str, proxies: list[int]) -> str:
    """The path a variant's traffic takes, as it really ran: a published port goes through docker-proxy only when
    the engine started one for it (dockerd's userland proxy can be off, and then the kernel's DNAT carries it)."""
    if variant == "published" and not proxies:
        return "host -> 127.0.0.1:P -> kernel DNAT (no docker-proxy: the userland proxy is off) -> container"
    return PATHS[variant]


def host_address() -> str:
    """The host's first non-loopback IPv4 address outside Docker's bridges (the DNAT path's destination)."""
    for name, addresses in sorted(psutil.net_if_addrs().items()):
        if name == "lo" or name.startswith(("docker", "br-", "veth")):
            continue
        for address in addresses:
            if address.family == socket.AF_INET and not address.address.startswith("127."):
                return address.address
    raise Unavailable("the host has no non-loopback IPv4 address for the DNAT path")
