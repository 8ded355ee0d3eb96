"""The peer of the network workloads: one TCP listener and one UDP socket on the same port (stdlib only).

Run it as ``python3 workloads/net/server.py --port P [--bind ADDR] [--ready-file F] [--stdin-lifetime]`` where the
environment under test should hold the server, or use :class:`NetServer` in-process. It imports nothing from
vbench, so the file works alone.

The protocol. On TCP the client's first line names the mode:

``stream\\n``
    the server reads and discards until EOF, then replies ``<bytes>\\n`` (the count of bytes it received after
    the mode line) and closes.
``rr REQUEST [RESPONSE]\\n``
    for every REQUEST bytes received the server sends RESPONSE bytes (RESPONSE defaults to REQUEST), until EOF.
    The content is not looked at: only the counts matter, so pipelined requests are answered too.
anything else
    ``error <reason>\\n`` and close.

On UDP every datagram is echoed to its sender.

Once both sockets listen it prints ``ready <port>`` on stdout (and writes the same line to the ready file):
port 0 picks a port free for both TCP and UDP. It serves until SIGTERM or SIGINT (or EOF on stdin with
``--stdin-lifetime``), then closes every socket, ends every connection's thread and exits 0. One thread serves
each connection and ends with it, so any number of sequential trials leaves the thread count where it started.
"""
from __future__ import annotations

import argparse
import os
import selectors
import signal
import socket
import sys
import threading

MAX_LINE = 256
MAX_MESSAGE = 64 << 20
RECV_BYTES = 256 << 10
UDP_MAX = 65535
UDP_BATCH = 64
BIND_ATTEMPTS = 20
JOIN_TIMEOUT_S = 1.0


class ProtocolError(Exception):
    """A client's mode line the server cannot serve; the client gets ``error <reason>``."""


class NetServer:
    """The server's sockets and connections; :meth:`serve_forever` runs it until :meth:`stop`."""

    def __init__(self, bind: str = "0.0.0.0", port: int = 0) -> None:
        self.tcp, self.udp = open_sockets(bind, port)
        self.port: int = self.tcp.getsockname()[1]
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._lock = threading.Lock()
        self._connections: dict[socket.socket, threading.Thread] = {}
        self._thread: threading.Thread | None = None
        self._selector = selectors.DefaultSelector()  # made here, so that once constructed it is all set up
        self._selector.register(self.tcp, selectors.EVENT_READ, self._accept)
        self._selector.register(self.udp, selectors.EVENT_READ, self._echo_datagrams)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)

    def serve_forever(self, stdin_fd: int | None = None) -> None:
        """Accept, echo and serve until :meth:`stop` (or EOF on ``stdin_fd``); then close every socket."""
        if stdin_fd is not None:
            self._selector.register(stdin_fd, selectors.EVENT_READ, "stdin")
        try:
            while self._serve_once(self._selector):
                pass
        finally:
            self._selector.close()
            self._close_sockets()

    def _serve_once(self, selector: selectors.BaseSelector) -> bool:
        for key, _ in selector.select():
            if key.data is None:
                return False
            if key.data == "stdin":
                if not os.read(key.fd, 4096):
                    return False
                continue
            key.data()
        return True

    def stop(self) -> None:
        """Make :meth:`serve_forever` return soon; safe from a signal handler and from another thread."""
        try:
            os.write(self._wake_w, b"x")
        except (BlockingIOError, OSError):
            pass  # a full pipe already wakes the loop; a closed one means it is over

    def start(self) -> "NetServer":
        """Serve in a background thread (the in-process peer of a self-contained run)."""
        self._thread = threading.Thread(target=self.serve_forever, name="vbench-net-server", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop, wait for the serving thread if :meth:`start` made one, and release everything (idempotent)."""
        self.stop()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self._selector.close()
        self._close_sockets()  # for a server that never served
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._wake_r = self._wake_w = -1

    def __enter__(self) -> "NetServer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        try:
            conn, _ = self.tcp.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        conn.setblocking(True)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        thread = threading.Thread(target=self._serve_connection, args=(conn,), name="vbench-net-conn", daemon=True)
        with self._lock:
            self._connections[conn] = thread
        thread.start()

    def _serve_connection(self, conn: socket.socket) -> None:
        try:
            with conn:
                serve_connection(conn)
        except OSError:
            pass  # the client went away, or stop() shut the socket down under us
        finally:
            with self._lock:
                self._connections.pop(conn, None)

    def _echo_datagrams(self) -> None:
        for _ in range(UDP_BATCH):
            try:
                data, sender = self.udp.recvfrom(UDP_MAX)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue  # an ICMP error queued on the socket: nothing to echo
            try:
                self.udp.sendto(data, sender)
            except OSError:
                pass

    def _close_sockets(self) -> None:
        self.tcp.close()
        self.udp.close()
        with self._lock:
            live = list(self._connections.items())
        for conn, _ in live:
            try:
                conn.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in recv on it
            except OSError:
                pass
        for _, thread in live:
            thread.join(JOIN_TIMEOUT_S)


def open_sockets(bind: str, port: int) -> tuple[socket.socket, socket.socket]:
    """A listening TCP socket and a bound UDP socket on one port (for port 0, one free for both)."""
    family = socket.AF_INET6 if ":" in bind else socket.AF_INET
    for _ in range(BIND_ATTEMPTS if port == 0 else 1):
        tcp = socket.socket(family, socket.SOCK_STREAM)
        udp = socket.socket(family, socket.SOCK_DGRAM)
        try:
            tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            tcp.bind((bind, port))
            tcp.listen(128)
            udp.bind((bind, tcp.getsockname()[1]))
        except OSError:
            tcp.close()
            udp.close()
            if port:
                raise
            continue  # the UDP side of the port TCP picked is taken: try another
        tcp.setblocking(False)
        udp.setblocking(False)
        return tcp, udp
    raise OSError(f"no port on {bind} was free for both TCP and UDP in {BIND_ATTEMPTS} attempts")


def serve_connection(conn: socket.socket) -> None:
    """Serve one TCP connection in the mode its first line names."""
    line, rest = read_line(conn)
    try:
        mode = parse_mode(line)
    except ProtocolError as exc:
        conn.sendall(f"error {exc}\n".encode())
        return
    if mode is None:
        conn.sendall(b"%d\n" % discard(conn, len(rest)))
    else:
        answer(conn, mode[0], mode[1], len(rest))


def read_line(conn: socket.socket) -> tuple[bytes, bytes]:
    """The first line (without its newline) and whatever arrived after it."""
    data = b""
    while b"\n" not in data:
        chunk = conn.recv(MAX_LINE)
        if not chunk or len(data) > MAX_LINE:
            return data, b""  # EOF or no newline: parse_mode rejects it
        data += chunk
    line, _, rest = data.partition(b"\n")
    return line, rest


def parse_mode(line: bytes) -> tuple[int, int] | None:
    """None for ``stream``, (request, response) sizes for ``rr``; ProtocolError otherwise."""
    words = line.decode("ascii", "replace").split()
    if words == ["stream"]:
        return None
    if words[:1] != ["rr"] or len(words) not in (2, 3):
        raise ProtocolError(f"unknown mode {line[:40]!r}: expected 'stream' or 'rr REQUEST [RESPONSE]'")
    try:
        sizes = [int(w) for w in words[1:]]
    except ValueError:
        raise ProtocolError(f"sizes must be integers, got {words[1:]}") from None
    if not all(0 < s <= MAX_MESSAGE for s in sizes):
        raise ProtocolError(f"sizes must be 1 to {MAX_MESSAGE} bytes, got {sizes}")
    return sizes[0], sizes[-1]


def discard(conn: socket.socket, already: int) -> int:
    """Bytes received (``already`` plus all until EOF), thrown away as they come."""
    buf = bytearray(RECV_BYTES)
    total, recv_into = already, conn.recv_into
    while True:
        n = recv_into(buf)
        if not n:
            return total
        total += n


def answer(conn: socket.socket, request: int, response: int, pending: int) -> None:
    """Send ``response`` bytes for every ``request`` bytes received, until EOF."""
    reply = bytes(response)
    buf = bytearray(min(max(request, 4096), RECV_BYTES))
    recv_into, sendall = conn.recv_into, conn.sendall
    while True:
        while pending >= request:
            sendall(reply)
            pending -= request
        n = recv_into(buf)
        if not n:
            return
        pending += n


def write_ready(path: str, port: int) -> None:
    """The ready line in ``path``, written whole (a reader never sees half of it)."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(f"ready {port}\n")
    os.replace(tmp, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="the vbench network workloads' server (TCP and UDP, one port)")
    parser.add_argument("--port", type=int, default=0, help="TCP and UDP port; 0 picks a free one (default)")
    parser.add_argument("--bind", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    parser.add_argument("--ready-file", help="also write 'ready <port>' to this file once listening")
    parser.add_argument("--stdin-lifetime", action="store_true", help="also exit when stdin reaches EOF")
    args = parser.parse_args(argv)
    server = NetServer(args.bind, args.port)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: server.stop())
    if args.ready_file:
        write_ready(args.ready_file, server.port)
    print(f"ready {server.port}", flush=True)  # last, so a reader of stdout finds the ready file there too
    server.serve_forever(sys.stdin.fileno() if args.stdin_lifetime else None)
    server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
