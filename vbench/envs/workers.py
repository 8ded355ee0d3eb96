"""Pipes to a warm worker (``workloads/worker.py``) inside an environment: one JSON request, one JSON reply.

A sliced trial (``vbench.slices``) keeps one worker per environment alive and asks it for short slices of work.
Each environment reaches its worker its own way: natively a child process's pipes, in a container an exec whose
stdin and stdout are the Engine API's attach socket, in a VM the guest agent (``vbench.envs.qemu``). Whatever
breaks on the way (the process exits, the socket resets, a reply never comes or is not JSON) is a
``WorkerLost`` with the reason, never a hang or a traceback.
"""
from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import subprocess
import time
from abc import ABC, abstractmethod

from vbench.errors import VBenchError


class WorkerLost(VBenchError):
    """The worker cannot answer: it exited, its channel broke, or it did not reply in time."""


class WorkerPipe(ABC):
    """``ask(request, timeout)`` sends one request and returns the worker's reply (``{"ok": ...}``)."""

    pid: int | None = None  # the worker's host PID, where it has one (the collectors watch it)

    @abstractmethod
    def ask(self, request: dict, timeout: float) -> dict:
        ...

    @abstractmethod
    def close(self) -> None:
        ...


def parse_reply(line: bytes) -> dict:
    try:
        reply = json.loads(line)
    except ValueError:
        raise WorkerLost(f"the worker sent something that is not JSON: {line[:120]!r}") from None
    if not isinstance(reply, dict) or "ok" not in reply:
        raise WorkerLost(f"the worker sent a malformed reply: {str(reply)[:120]}")
    return reply


class _Lines:
    """Lines read from a byte source under a deadline; ``read(n)`` returns b"" at the end of the stream."""

    def __init__(self, wait_readable, read):
        self._wait, self._read, self._buffer = wait_readable, read, b""

    def next_line(self, timeout: float) -> bytes:
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not self._wait(left):
                raise WorkerLost(f"the worker did not reply within {timeout:.0f}s")
            chunk = self._read()
            if not chunk:
                raise WorkerLost("the worker's channel closed")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line


class ProcessPipe(WorkerPipe):
    """A worker as a child process on this host (native), in its own process group."""

    def __init__(self, argv: list[str], cwd: str):
        try:
            self.proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                         stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            raise WorkerLost(f"the worker could not start: {exc}") from exc
        self.pid = self.proc.pid
        fd = self.proc.stdout.fileno()
        self._lines = _Lines(lambda t: bool(select.select([fd], [], [], t)[0]), lambda: os.read(fd, 65536))

    def ask(self, request: dict, timeout: float) -> dict:
        try:
            self.proc.stdin.write(json.dumps(request).encode() + b"\n")
            self.proc.stdin.flush()
            return parse_reply(self._lines.next_line(timeout))
        except (OSError, WorkerLost) as exc:
            reason = str(exc) if isinstance(exc, WorkerLost) else f"the worker's pipe broke ({exc})"
            try:
                status = self.proc.wait(1.0)  # a closed pipe is most often the worker's end: let its status say so
            except subprocess.TimeoutExpired:
                status = None
            self.close()
            raise WorkerLost(reason if status is None else f"the worker exited with status {status}") from None

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except OSError:
                pass


class DockerExecPipe(WorkerPipe):
    """A worker exec'd in a running container through the Engine API, its stdin and stdout on the attach socket
    (stdout arrives in the engine's frames: an 8-byte header, stream and length, then the data)."""

    def __init__(self, api, container_id: str, argv: list[str], workdir: str):
        self.api = api
        self.exec_id = api.exec_create(container_id, argv, stdin=True, stdout=True, stderr=False,
                                       workdir=workdir)["Id"]
        raw = api.exec_start(self.exec_id, socket=True)
        self.sock: socket.socket = getattr(raw, "_sock", raw)
        self._raw = raw
        self._frames = b""
        self._lines = _Lines(self._wait, self._read_frame_data)

    def _wait(self, timeout: float) -> bool:
        self.sock.settimeout(max(timeout, 0.001))  # also bounds a recv that waits for the rest of a frame
        return bool(select.select([self.sock], [], [], timeout)[0])

    def _read_frame_data(self) -> bytes:
        """The data of the next stdout frame(s) available; b"" when the stream ended."""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                return b""
            self._frames += chunk
            data = b""
            while len(self._frames) >= 8:
                _stream, size = struct.unpack(">BxxxL", self._frames[:8])
                if len(self._frames) < 8 + size:
                    break
                data += self._frames[8:8 + size]
                self._frames = self._frames[8 + size:]
            if data:
                return data

    def ask(self, request: dict, timeout: float) -> dict:
        try:
            self.sock.sendall(json.dumps(request).encode() + b"\n")
            return parse_reply(self._lines.next_line(timeout))
        except (OSError, WorkerLost) as exc:
            reason = str(exc) if isinstance(exc, WorkerLost) else f"the attach socket broke ({exc})"
            self.close()
            raise WorkerLost(self._exit_status() or reason) from None

    def _exit_status(self) -> str | None:
        """"the worker exited with status N" once the engine says the exec ended; None while unknown."""
        for _ in range(20):
            try:
                state = self.api.exec_inspect(self.exec_id)
            except Exception:
                return None
            if not state.get("Running"):
                return f"the worker exited with status {state.get('ExitCode')}"
            time.sleep(0.05)
        return None

    @property
    def pid(self) -> int | None:
        try:
            return self.api.exec_inspect(self.exec_id).get("Pid") or None
        except Exception:
            return None

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_WR)  # the worker sees the end of its stdin and exits
        except OSError:
            pass
        # The socket's fd stays open while the SDK's file object over it does (socket.makefile counts its users),
        # and that object sits in a reference cycle of the HTTP response: without closing it too, every worker's
        # connection to the engine lived on until a garbage collection (benchmarks/long_run.py saw 47 to 111 fds).
        for stream in (self.sock, self._raw):
            try:
                stream.close()
            except OSError:
                pass
