"""TCP request/response (netperf TCP_RR-like): one ``request``-byte request, one ``response``-byte reply, repeated.

One connection with TCP_NODELAY, one transaction in flight, for ``seconds``: each is timed from the end of the
previous one to the last byte of its reply (time.perf_counter_ns), so the latencies add up to the elapsed time
and the mean latency is the reciprocal of the transaction rate, as in netperf. One untimed transaction first
lets the server's connection thread start. The small sizes (1/1) expose the per-packet cost of each layer of
virtual networking; larger ones (100/200) add a little copying.

sockperf runs it where both ends have it and request and response are one size of at least 14 bytes (sockperf
echoes, and its header is 14 bytes): ``sockperf ping-pong --tcp -m SIZE --full-rtt``, the same one-in-flight
loop in C (``workloads/net/tools.py``). The stdlib client below is the labelled fallback and the only client
for unequal sizes.
"""
from __future__ import annotations

import socket
import time
from array import array

from workloads.io import latency_us
from workloads.net import PEER_RULES, address_text, connect_tcp, peer
from workloads.net import tools
from workloads.rules import Size
from workloads.units import parse_size

PARAMS = {"host": "127.0.0.1", "port": 0, **tools.TOOL_PARAMS, "seconds": 2.0, "request": "1", "response": "1",
          "tool": "auto"}
METRICS = {"tps": ("transactions/s", True), "lat_mean": ("us", False), "lat_p50": ("us", False),
           "lat_p99": ("us", False)}
PRIMARY = "tps"
PLACEMENT = "client"  # the server runs in the environment under test, this client beside it
MAX_SIZE = 16 << 20
RULES = {**PEER_RULES, **tools.TOOL_RULES, "request": Size(1, MAX_SIZE), "response": Size(1, MAX_SIZE),
         "tool": tools.tool_rule("sockperf")}


def run(params: dict, workdir: str) -> dict:
    request, response = (parse_size(params[k]) for k in ("request", "response"))
    seconds = float(params["seconds"])
    unusable = None
    if request != response or request < tools.SOCKPERF_MIN_MESSAGE:
        unusable = (f"sockperf echoes messages of one size of at least {tools.SOCKPERF_MIN_MESSAGE} bytes "
                    f"(asked: {request} out, {response} back)")
    tool, why = tools.choose(params, "sockperf", unusable)
    if tool == "sockperf":
        return tools.sockperf_ping_pong(str(params["host"]), int(params["sockperf_port"]), seconds, request,
                                        tcp=True)
    return tools.fallback(python_rr(params, request, response, seconds), why)


def python_rr(params: dict, request: int, response: int, seconds: float) -> dict:
    """The stdlib client against the vbench server."""
    with peer(params) as (host, port, flags):
        sock = connect_tcp(host, port, nodelay=True)
        with sock:
            address = address_text(sock.getpeername())
            sock.sendall(f"rr {request} {response}\n".encode())
            try:
                transactions(sock, bytes(request), bytearray(response), 0)  # lets the server's thread start
                samples, elapsed_ns = transactions(sock, bytes(request), bytearray(response), seconds)
            except BlockingIOError:
                raise TimeoutError(f"no reply from {address} in time: is the vbench net server there?") from None
    lat = latency_us(samples)
    metrics = {"tps": len(samples) / (elapsed_ns / 1e9), "lat_mean": lat["mean"], "lat_p50": lat["p50"],
               "lat_p99": lat["p99"]}
    info = {"peer": address, "transactions": len(samples), "request_bytes": request, "response_bytes": response,
            "bytes": len(samples) * (request + response), "elapsed_s": elapsed_ns / 1e9}
    return {"metrics": metrics, "info": info, "flags": flags}


def transactions(sock: socket.socket, request: bytes, reply: bytearray, seconds: float) -> tuple[array, int]:
    """Per-transaction times in ns and the span of the loop: one transaction, then more until ``seconds`` passed."""
    sendall, recv_into, clock = sock.sendall, sock.recv_into, time.perf_counter_ns
    size, view, samples = len(reply), memoryview(reply), array("q")
    begin = now = clock()
    stop = begin + int(seconds * 1e9)
    while True:
        start = now
        sendall(request)
        got = recv_into(reply)
        while got < size:
            more = recv_into(view[got:]) if got else 0
            if not more:
                raise ConnectionError("the server closed the connection in the middle of a transaction")
            got += more
        now = clock()
        samples.append(now - start)
        if now >= stop:
            return samples, now - begin
