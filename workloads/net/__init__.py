"""Network workloads (netperf-like): TCP stream throughput and TCP and UDP request/response, with their server.

Each runs a C tool where both ends have it (iperf3 for the stream, sockperf ping-pong for request/response:
``workloads/net/tools.py``) and the stdlib client here otherwise, labelled as the fallback.

The server (``workloads/net/server.py``) runs where the environment under test puts it; the client workloads
here run elsewhere and time everything on their own clock: a guest's clock may drift, the client's is the one
the figures are read from. ``port`` 0 makes a run self-contained: the client starts the server in-process on
loopback (flagged ``in-process-server``, since the server then shares the client's interpreter) and ``host``
is ignored. The helpers below are shared by the family: the peer, and TCP connections whose blocking calls
time out in the kernel.
"""
from __future__ import annotations

import contextlib
import socket
import struct
from typing import Iterator

from workloads.rules import Number, Text

IO_TIMEOUT_S = 30.0
IN_PROCESS_FLAG = "in-process-server"
# The rules every client shares: where the server is, and for how long to measure.
PEER_RULES = {"host": Text("a host name or IP address", r"[A-Za-z0-9:][A-Za-z0-9.:%_-]*", 253),
              "port": Number(0, 65535, integer=True), "seconds": Number(0.001, 3600)}


@contextlib.contextmanager
def peer(params: dict) -> Iterator[tuple[str, int, list[str]]]:
    """(host, port, flags) of the server to measure against; port 0 starts one in-process for the duration."""
    port = int(params["port"])
    if port:
        yield str(params["host"]), port, []
        return
    from workloads.net.server import NetServer

    with NetServer("127.0.0.1", 0).start() as server:
        yield "127.0.0.1", server.port, [IN_PROCESS_FLAG]


def resolve(host: str, port: int, socktype: int) -> tuple[int, tuple]:
    """(address family, socket address) of ``host:port`` for ``socktype``."""
    infos = socket.getaddrinfo(host, port, type=socktype)
    if not infos:
        raise OSError(f"cannot resolve {host}:{port}")
    family, _, _, _, sockaddr = infos[0]
    return family, sockaddr


def kernel_timeouts(sock: socket.socket, seconds: float) -> None:
    """Bound every blocking send and receive by ``seconds`` in the kernel (SO_SNDTIMEO, SO_RCVTIMEO).

    Unlike ``settimeout``, which polls before every call, this adds no system call to a timed loop; a call that
    times out raises ``BlockingIOError``.
    """
    whole = int(seconds)
    timeval = struct.pack("ll", whole, int((seconds - whole) * 1e6))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)


def connect_tcp(host: str, port: int, nodelay: bool) -> socket.socket:
    """A blocking TCP connection to ``host:port`` whose calls time out after IO_TIMEOUT_S."""
    family, sockaddr = resolve(host, port, socket.SOCK_STREAM)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(IO_TIMEOUT_S)
        sock.connect(sockaddr)
        sock.settimeout(None)
        kernel_timeouts(sock, IO_TIMEOUT_S)
        if nodelay:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        sock.close()
        raise
    return sock


def address_text(sockaddr: tuple) -> str:
    """``host:port`` (``[host]:port`` for IPv6) of a socket address."""
    host, port = sockaddr[0], sockaddr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
