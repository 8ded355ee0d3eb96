"""TCP bulk throughput (netperf TCP_STREAM-like): send ``size``-byte writes for ``seconds``, counted by the server.

iperf3 runs it where both ends have it (``workloads/net/tools.py``): ``iperf3 -c HOST -l SIZE -t SECONDS -J``,
the figure its receiver's count over its time. The stdlib client below is the labelled fallback: after the
``stream`` mode line it sends as fast as the connection takes it, then half-closes; the server replies with the
bytes it received. Throughput is those bytes over the client's time from the first send to that
reply, so data still in socket buffers when the sending stops is neither lost nor counted early. The figure is in
Mbit/s (10^6 bits per second, as netperf and iperf report).
"""
from __future__ import annotations

import socket
import time

from workloads.net import PEER_RULES, address_text, connect_tcp, peer
from workloads.net import tools
from workloads.rules import Size
from workloads.units import parse_size

PARAMS = {"host": "127.0.0.1", "port": 0, **tools.TOOL_PARAMS, "seconds": 2.0, "size": "128k", "tool": "auto"}
METRICS = {"throughput": ("Mbit/s", True)}
PRIMARY = "throughput"
PLACEMENT = "client"  # the server runs in the environment under test, this client beside it
MAX_SIZE = 64 << 20
MAX_REPLY = 64
RULES = {**PEER_RULES, **tools.TOOL_RULES, "size": Size(1, MAX_SIZE), "tool": tools.tool_rule("iperf3")}


def run(params: dict, workdir: str) -> dict:
    size, seconds = parse_size(params["size"]), float(params["seconds"])
    tool, why = tools.choose(params, "iperf3")
    if tool == "iperf3":
        return tools.iperf3_stream(str(params["host"]), int(params["iperf3_port"]), seconds, size)
    return tools.fallback(python_stream(params, size, seconds), why)


def python_stream(params: dict, size: int, seconds: float) -> dict:
    """The stdlib client against the vbench server."""
    with peer(params) as (host, port, flags):
        sock = connect_tcp(host, port, nodelay=False)
        with sock:
            address = address_text(sock.getpeername())
            sent, sends, elapsed_ns, confirmed = stream(sock, size, seconds)
    if confirmed != sent:
        raise RuntimeError(f"the server at {address} confirmed {confirmed} bytes of the {sent} sent")
    info = {"peer": address, "bytes": sent, "server_bytes": confirmed, "sends": sends, "send_bytes": size,
            "elapsed_s": elapsed_ns / 1e9}
    return {"metrics": {"throughput": confirmed * 8 / (elapsed_ns / 1e9) / 1e6}, "info": info, "flags": flags}


def stream(sock: socket.socket, size: int, seconds: float) -> tuple[int, int, int, int]:
    """(bytes sent, sends, ns from the first send to the server's count, bytes the server counted)."""
    chunk, sendall, clock = bytes(size), sock.sendall, time.perf_counter_ns
    sock.sendall(b"stream\n")
    sends, begin = 0, clock()
    stop = begin + int(seconds * 1e9)
    while clock() < stop:
        sendall(chunk)
        sends += 1
    sock.shutdown(socket.SHUT_WR)
    reply = read_reply(sock)
    elapsed = clock() - begin
    return sends * size, sends, elapsed, reply


def read_reply(sock: socket.socket) -> int:
    """The byte count the server sends after EOF; a clear error for anything else."""
    data = b""
    while not data.endswith(b"\n") and len(data) <= MAX_REPLY:
        try:
            chunk = sock.recv(MAX_REPLY)
        except BlockingIOError:
            raise TimeoutError("the server did not report its byte count in time") from None
        if not chunk:
            break
        data += chunk
    text = data.decode("ascii", "replace").strip()
    if not text.isdigit():
        raise RuntimeError(f"the server did not report a byte count (it said {text[:80]!r}): is it the vbench "
                           "net server?")
    return int(text)
