"""The guest agent: runs in a VM as its init's last step and executes invocations for the host (stdlib only).

It talks one JSON object per line over a virtio-serial port named ``vbench.agent``:

- host ``{"op": "ping"}`` -> guest ``{"op": "pong", "uptime_s": ..., "kernel": ...}``
- host ``{"op": "exec", "id": N, "argv": [...], "cwd": "/scratch", "timeout": S}`` -> guest
  ``{"op": "result", "id": N, "returncode": ..., "stdout": ..., "stderr": ..., "wall_s": ..., "timed_out": ...}``
  where ``wall_s`` is the guest's own monotonic measure of the run, compared on the host with its own.
- host ``{"op": "work", "id": N, "request": {...}}`` -> guest ``{"op": "worked", "id": N, "reply": {...}}``: a
  request for the warm worker of sliced trials (workloads/worker.py), which lives in the agent's own process so
  it stays warm between slices.
- host ``{"op": "poweroff"}`` -> the guest syncs and powers off.
"""
from __future__ import annotations

import glob
import json
import os
import platform
import subprocess
import sys
import time

PORT_NAME = "vbench.agent"
_WORKER = []  # the warm worker, made on the first "work" request


def find_port(name: str = PORT_NAME, sys_root: str = "/sys/class/virtio-ports") -> str:
    """The /dev node of the virtio-serial port called ``name``."""
    for entry in glob.glob(f"{sys_root}/vport*"):
        try:
            with open(f"{entry}/name") as f:
                if f.read().strip() == name:
                    return f"/dev/{os.path.basename(entry)}"
        except OSError:
            continue
    raise FileNotFoundError(f"no virtio-serial port named {name}")


def uptime() -> float:
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def handle(request: dict) -> dict | None:
    op = request.get("op")
    if op == "ping":
        return {"op": "pong", "uptime_s": uptime(), "kernel": platform.release()}
    if op == "exec":
        return execute(request)
    if op == "work":
        return {"op": "worked", "id": request.get("id"), "reply": work(request["request"])}
    if op == "poweroff":
        os.sync()
        os.system("poweroff -f")  # noqa: S605 - a fixed command, no input in it
        return None
    return {"op": "error", "error": f"unknown op {op!r}"}


def execute(request: dict) -> dict:
    if _WORKER:
        _WORKER[0].place(None)  # a sliced trial pinned the agent: a whole trial's runner gets every CPU again
    start = time.monotonic()
    try:
        done = subprocess.run(request["argv"], cwd=request.get("cwd") or "/", capture_output=True, text=True,
                              timeout=request.get("timeout"), stdin=subprocess.DEVNULL)
        out = {"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr, "timed_out": False}
    except subprocess.TimeoutExpired as exc:
        out = {"returncode": None, "stdout": _text(exc.stdout), "stderr": _text(exc.stderr), "timed_out": True}
    except OSError as exc:
        out = {"returncode": 127, "stdout": "", "stderr": f"agent: {exc}", "timed_out": False}
    return {"op": "result", "id": request.get("id"), "wall_s": round(time.monotonic() - start, 6), **out}


def work(request: dict) -> dict:
    if not _WORKER:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        if root not in sys.path:
            sys.path.append(root)  # last, as in run.py
        from workloads.worker import Worker

        _WORKER.append(Worker())
    try:
        reply = _WORKER[0].handle(request)
        if reply is None:  # "exit": the next request gets a new worker, and the agent every CPU again
            _WORKER[0].close()  # its unit's paused fio and file with it
            _WORKER[0].place(None)
            _WORKER.clear()
            return {"ok": True}
        return reply
    except Exception as exc:  # one bad request fails alone, as in the worker's own loop
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def _text(value) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else (value or "")


def send(port, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = port.write(view)
        view = view[written or 0:]


def serve(path: str) -> None:
    with open(path, "r+b", buffering=0) as port:
        buffer = b""
        while True:
            chunk = port.read(65536)
            if not chunk:
                time.sleep(0.05)  # no host connected yet
                continue
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                try:
                    reply = handle(json.loads(line))
                except (ValueError, KeyError, TypeError) as exc:
                    reply = {"op": "error", "error": f"{type(exc).__name__}: {exc}"}
                if reply is not None:
                    send(port, json.dumps(reply).encode() + b"\n")


def main() -> int:
    try:
        serve(find_port())
    except Exception as exc:  # PID 1 must not die silently: say why on the console
        print(f"vbench agent: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
