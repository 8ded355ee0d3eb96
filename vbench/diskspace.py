"""A full disk is a value: every write of a run goes through here, so one that fails for lack of space (or
quota) ends the run with one line naming what could not be written and how much space is left, and leaves no
half-written file or temporary file behind (a leaf: no vbench imports but the error type).

``append_line`` appends a whole line or nothing (a short write is cut back off), ``write_atomic`` replaces a file
whole or not at all (its temporary file removed on failure), and ``writing`` turns any other write's OSError into
the one-line error. ``check_free`` is the check before a run: a filesystem with less free space than the plan
needs is an error then, not a failure in round 3.
"""
from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Iterator

from vbench.errors import VBenchError

NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


class NoSpace(VBenchError):
    """A write of the run failed for lack of space or quota."""


def free_bytes(path: str | Path) -> int | None:
    """Bytes an unprivileged writer may still use on ``path``'s filesystem (its nearest existing ancestor's)."""
    here = Path(path).absolute()
    while not here.exists() and here != here.parent:
        here = here.parent
    try:
        stat = os.statvfs(here)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


def size_text(count: float | None) -> str:
    if count is None:
        return "unknown"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(count) < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"  # pragma: no cover - the loop returns at GiB


def failed_write(path: str | Path, exc: OSError) -> VBenchError:
    """The one-line error for a write of ``path`` that failed with ``exc``."""
    if exc.errno in NO_SPACE:
        return NoSpace(f"cannot write {path}: {exc.strerror} ({size_text(free_bytes(path))} free there); free some "
                       "space, then vbench run --resume finishes the run")
    return VBenchError(f"cannot write {path}: {exc.strerror}")


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Any OSError of the block becomes the one-line error naming ``path``."""
    try:
        yield
    except OSError as exc:
        raise failed_write(path, exc) from None


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` (written, fsynced, renamed): the old file or the new one, never a part; the
    temporary file is removed when the write fails."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    raw = data.encode() if isinstance(data, str) else data
    with writing(path):
        try:
            with open(tmp, "wb") as f:
                f.write(raw)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise


def append_line(path: str | Path, line: bytes) -> None:
    """Append ``line`` (ending in a newline) and fsync it, or leave the file as it was: a write cut short (a full
    disk takes what fits, then fails) is cut back off, so no reader ever sees half a line."""
    with writing(path):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            start = os.fstat(fd).st_size
            whole = False
            try:
                view = memoryview(line)
                while view:
                    view = view[os.write(fd, view):]
                whole = True
                os.fsync(fd)
            except OSError:  # a write cut short, or the device refused the flush: the line is not kept
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, start)
                raise
            except BaseException:  # an interrupt (Ctrl-C, SIGTERM): a whole line is a finished trial, kept
                if not whole:
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, start)
                raise
        finally:
            os.close(fd)


def check_free(what: str, path: str | Path, need: int, needer: str = "this run") -> None:
    """An error now when ``path``'s filesystem has less than ``need`` bytes free for ``what``."""
    free = free_bytes(path)
    if free is not None and free < need:
        raise NoSpace(f"{what} {path} has {size_text(free)} free; {needer} needs about {size_text(need)} there "
                      "(free some space or point it elsewhere)")
