"""UDP request/response (netperf UDP_RR-like): one ``size``-byte datagram out, its echo back, repeated.

One transaction in flight, for ``seconds``, timed like tcp_rr on the client's clock. The server echoes, so the
reply is as large as the request. Each datagram carries a sequence number in its first bytes (modulo 256 for a
one-byte datagram), so a late echo of an earlier one is not taken for the current reply. A datagram with no echo
within ``timeout`` seconds (or refused by ICMP: nothing listens there) is lost: losses are counted in the info
and the transaction rate counts answered ones only; more than 10% lost is an error, since the figures would then
measure the timeout rather than the network.

sockperf runs it where both ends have it and ``size`` is at least 14 bytes (its header): ``sockperf ping-pong
-m SIZE --full-rtt`` (``workloads/net/tools.py``); the stdlib client below is the labelled fallback.
"""
from __future__ import annotations

import socket
import time
from array import array

from workloads.io import latency_us
from workloads.net import PEER_RULES, address_text, kernel_timeouts, peer, resolve
from workloads.net import tools
from workloads.rules import Number, Size
from workloads.units import parse_size

PARAMS = {"host": "127.0.0.1", "port": 0, **tools.TOOL_PARAMS, "seconds": 2.0, "size": "1", "timeout": 0.5,
          "tool": "auto"}
METRICS = {"tps": ("transactions/s", True), "lat_p50": ("us", False), "lat_p99": ("us", False)}
PRIMARY = "tps"
PLACEMENT = "client"  # the server runs in the environment under test, this client beside it
MAX_SIZE = 65507  # the largest UDP payload over IPv4
MAX_LOSS = 0.10
RULES = {**PEER_RULES, **tools.TOOL_RULES, "size": Size(1, MAX_SIZE), "timeout": Number(0.001, 60),
         "tool": tools.tool_rule("sockperf")}


class Tally:
    """The outcome of the loop: answered transactions' times in ns, losses, refusals and the span."""

    def __init__(self) -> None:
        self.samples, self.lost, self.refused, self.elapsed_ns = array("q"), 0, 0, 0

    @property
    def attempted(self) -> int:
        return len(self.samples) + self.lost


def run(params: dict, workdir: str) -> dict:
    size, seconds, timeout = parse_size(params["size"]), float(params["seconds"]), float(params["timeout"])
    unusable = None
    if size < tools.SOCKPERF_MIN_MESSAGE:
        unusable = f"sockperf's smallest message is {tools.SOCKPERF_MIN_MESSAGE} bytes (asked: {size})"
    tool, why = tools.choose(params, "sockperf", unusable)
    if tool == "sockperf":
        result = tools.sockperf_ping_pong(str(params["host"]), int(params["sockperf_port"]), seconds, size,
                                          tcp=False)
        lost, attempted = result["info"]["lost"], result["info"]["attempted"]
        if lost > MAX_LOSS * attempted:
            raise RuntimeError(f"udp_rr (sockperf) lost {lost} of {attempted} messages, more than {MAX_LOSS:.0%}")
        result["metrics"] = {k: v for k, v in result["metrics"].items() if k in METRICS}
        return result
    return tools.fallback(python_rr(params, size, seconds, timeout), why)


def python_rr(params: dict, size: int, seconds: float, timeout: float) -> dict:
    """The stdlib client against the vbench server."""
    with peer(params) as (host, port, flags):
        family, sockaddr = resolve(host, port, socket.SOCK_DGRAM)
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect(sockaddr)
            kernel_timeouts(sock, timeout)
            address = address_text(sock.getpeername())
            tally = transactions(sock, size, seconds, timeout)
    check_losses(tally, address, timeout)
    lat = latency_us(tally.samples)
    info = {"peer": address, "transactions": len(tally.samples), "attempted": tally.attempted,
            "lost": tally.lost, "refused": tally.refused, "datagram_bytes": size,
            "bytes": 2 * size * len(tally.samples), "timeout_s": timeout, "elapsed_s": tally.elapsed_ns / 1e9}
    metrics = {"tps": len(tally.samples) / (tally.elapsed_ns / 1e9), "lat_p50": lat["p50"], "lat_p99": lat["p99"]}
    return {"metrics": metrics, "info": info, "flags": flags}


def transactions(sock: socket.socket, size: int, seconds: float, timeout: float) -> Tally:
    """Send, await the matching echo (or give up after ``timeout``), repeat until ``seconds`` passed."""
    send, recv_into, clock = sock.send, sock.recv_into, time.perf_counter_ns
    width = min(size, 8)
    modulus, payload, reply = 1 << (8 * width), bytearray(size), bytearray(MAX_SIZE + 1)
    tally, timeout_ns = Tally(), int(timeout * 1e9)
    begin = now = clock()
    stop = begin + int(seconds * 1e9)
    seq = 0
    while now < stop:
        seq += 1
        tag = (seq % modulus).to_bytes(width, "big")
        payload[:width] = tag
        start = now
        try:
            send(payload)
            while True:
                got = recv_into(reply)
                if got == size and reply[:width] == tag:
                    answered = True
                    break
                if clock() - start > timeout_ns:  # only stale or foreign datagrams came back
                    answered = False
                    break
        except BlockingIOError:  # SO_RCVTIMEO ran out: no echo within the timeout
            answered = False
        except ConnectionRefusedError:  # ICMP port unreachable from the peer
            answered = False
            tally.refused += 1
        now = clock()
        if answered:
            tally.samples.append(now - start)
        else:
            tally.lost += 1
    tally.elapsed_ns = now - begin
    return tally


def check_losses(tally: Tally, address: str, timeout: float) -> None:
    """Raise when more than MAX_LOSS of the transactions went unanswered."""
    if tally.attempted and tally.lost <= MAX_LOSS * tally.attempted:
        return
    why = f"no echo from {address} within {timeout:g} s"
    if tally.refused:
        why += f"; {tally.refused} refused by ICMP port unreachable: nothing listens on that UDP port"
    raise RuntimeError(f"udp_rr lost {tally.lost} of {tally.attempted} transactions, more than "
                       f"{MAX_LOSS:.0%} ({why})")
