"""One measuring run per host at a time: a lock in vbench's state directory, held while a run measures.

Two runs on one host measure each other: a cpu run beside an io run takes CPU from its trials, and the io run's
writeback reaches the cpu run's. ``vbench run`` (and ``--resume``, and each host's run in a fleet) takes this lock
before it checks or provisions anything and holds it until its environments are torn down; ``report``,
``summary``, ``compare``, ``list`` and ``doctor`` never take it. A second run is refused in one line naming the
run that holds the lock, unless it was given ``--allow-concurrent``: then it measures anyway and every one of its
trials is flagged ``concurrent-run`` (``vbench.validity``).

The lock is flock(2) on ``<state>/measuring.lock``: the kernel releases it when its holder ends, however it ends,
so a stale lock never blocks a run. The file says who holds it (run id, pid, start time, directory); a holder that
died without clearing it leaves its record behind, and the next run says whose lock it took over. The state
directory is ``$VBENCH_STATE`` or the host's (``vbench.ledger.state_dir``): tests use their own.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from vbench.errors import VBenchError
from vbench.ledger import owner, owner_alive, state_dir
from vbench.validity import CONCURRENT_RUN as FLAG

LOCK_FILE = "measuring.lock"


class HostBusy(VBenchError):
    """Another run holds the host's measuring lock: ``holder`` is its record ({} when it had not written one)."""

    def __init__(self, message: str, holder: dict[str, Any]):
        super().__init__(message)
        self.holder = holder


def lock_path() -> Path:
    return state_dir() / LOCK_FILE


def describe(holder: Mapping[str, Any]) -> str:
    """The holder as the refusal line names it."""
    return (f"run {holder.get('run_id') or '?'} (pid {holder.get('pid', '?')}, started "
            f"{holder.get('started_at') or '?'}, in {holder.get('directory') or '?'})")


def read_holder(fd: int) -> dict[str, Any]:
    """The record in the lock file ({} when empty or unreadable: a holder that has just taken it)."""
    try:
        data = os.pread(fd, 1 << 16, 0)
        record = json.loads(data) if data.strip() else {}
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


class HostLock:
    """The host's measuring lock, taken with ``acquire`` and given back with ``release`` (or by the holder's end)."""

    def __init__(self, path: Path | None = None):
        self.path = path or lock_path()
        self.fd: int | None = None

    def acquire(self, run_id: str, directory: Path | str, started_at: str) -> str | None:
        """Take the lock for ``run_id`` or raise HostBusy naming its holder; a note when it was taken over from a
        holder that ended without giving it back, else None."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise VBenchError(f"cannot open the host's measuring lock {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            held = read_holder(fd)
            os.close(fd)
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise VBenchError(f"cannot take the host's measuring lock {self.path}: {exc.strerror}") from None
            if not held:
                who = "another vbench run (starting)"
            elif owner_alive(held):
                who = describe(held)
            else:  # its vbench is gone, a process it started is not: the reaper stops those
                who = f"a process left behind by {describe(held)} (whose vbench has ended; vbench clean stops it)"
            raise HostBusy(f"{who} is measuring on this host; wait for it to end, or give --allow-concurrent to "
                           f"measure beside it (every trial flagged {FLAG})", held) from None
        previous = read_holder(fd)
        record = {**owner(), "run_id": run_id, "started_at": started_at, "directory": str(Path(directory).absolute())}
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(record).encode(), 0)
            os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            raise VBenchError(f"cannot write the host's measuring lock {self.path}: {exc.strerror}") from None
        self.fd = fd
        if not previous:
            return None
        state = "still running, but no longer holding it" if owner_alive(previous) else "no longer running"
        return f"took over the host's measuring lock from {describe(previous)}: {state}"

    def release(self) -> None:
        if self.fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(self.fd, 0)  # cleared: the next run has no one to say it took over from
        os.close(self.fd)  # closing gives the flock back
        self.fd = None


@contextlib.contextmanager
def measuring(run_id: str, directory: Path | str, started_at: str, allow_concurrent: bool,
              say: Callable[[str], None]) -> Iterator[dict[str, Any] | None]:
    """Hold the host's measuring lock for the block. With ``allow_concurrent`` a busy lock is not an error: the
    block runs without it and gets the holder's record (its trials are then flagged), else None."""
    lock = HostLock()
    try:
        note = lock.acquire(run_id, directory, started_at)
    except HostBusy as busy:
        if not allow_concurrent:
            raise
        holder = busy.holder or {"run_id": None}
        say(f"measuring beside {describe(holder)} (--allow-concurrent): every trial is flagged {FLAG}")
        yield holder
        return
    if note:
        say(note)
    try:
        yield None
    finally:
        lock.release()


def held_by(path: Path | None = None) -> dict[str, Any] | None:
    """Who holds the host's measuring lock now, or None when no one does."""
    path = path or lock_path()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return read_holder(fd) or {}
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
