"""Whether O_DIRECT works in a directory, found by trying it.

A file system's O_DIRECT support cannot be read from its name: tmpfs gained it in Linux 6.6, overlayfs passes it
through only when the layer below supports it, and 9p or virtiofs depend on their mount options. So the probe
opens a scratch file with O_DIRECT and writes and reads one 4096-byte page-aligned buffer (an anonymous mmap is
page-aligned); EINVAL (or EOPNOTSUPP) at any step means no. Other errors (no space, no permission) are not an
answer about O_DIRECT and propagate.
"""
from __future__ import annotations

import errno
import mmap
import os

from workloads.io import remove_quietly, scratch_path

BLOCK = 4096
_UNSUPPORTED = {errno.EINVAL, errno.EOPNOTSUPP, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}


def probe_direct(workdir: str) -> tuple[bool, str]:
    """Whether an O_DIRECT write and read of 4096 aligned bytes succeed in ``workdir``, and the reason."""
    flag = getattr(os, "O_DIRECT", None)
    if flag is None:
        return False, "os.O_DIRECT does not exist on this platform"
    path = scratch_path(workdir, "odirect-probe")
    try:
        return _try_direct(path, flag)
    finally:
        remove_quietly(path)


def _try_direct(path: str, flag: int) -> tuple[bool, str]:
    step = "open"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | flag, 0o600)
        try:
            with mmap.mmap(-1, BLOCK) as buf:
                buf.write(b"\xa5" * BLOCK)
                step = "write"
                _expect(os.pwrite(fd, buf, 0), step)
                step = "read"
                _expect(os.preadv(fd, [buf], 0), step)
        finally:
            os.close(fd)
    except OSError as exc:
        if exc.errno not in _UNSUPPORTED:
            raise
        name = errno.errorcode[exc.errno]
        return False, f"O_DIRECT {step} failed in {os.path.dirname(path)}: {name} ({exc.strerror})"
    return True, f"O_DIRECT open, write and read of {BLOCK} aligned bytes succeeded in {os.path.dirname(path)}"


def _expect(count: int, step: str) -> None:
    if count != BLOCK:
        raise OSError(errno.EINVAL, f"short O_DIRECT {step}: {count} of {BLOCK} bytes")
