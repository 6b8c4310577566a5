"""Durable, atomic file writes: the one way every part of Cellbridge replaces a file, so a power
cut or a refused command leaves the old file or the new one, never a torn or half-written one."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

PRIVATE = 0o600
PUBLIC = 0o644


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable (the new directory entry reaches the disk)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def _replacing(path: Path, mode: int) -> Iterator[BinaryIO]:
    """A temp file beside `path` (its mode set before any byte), synced and renamed over `path`
    when the block ends, then the directory synced; removed if the block raises."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def write_atomic(path: Path, data: bytes, mode: int = PUBLIC) -> None:
    """Write `data` to `path` through a synced temp file in the same directory and `os.replace`,
    then sync the directory. `mode` is set before any byte is written (a private key is never
    readable by others, even briefly)."""
    with _replacing(path, mode) as handle:
        handle.write(data)


def copy_atomic(source: Path, destination: Path, mode: int = PUBLIC) -> None:
    """Copy a (possibly large) file into place with the guarantees of `write_atomic`, streaming."""
    with _replacing(destination, mode) as handle, open(source, "rb") as original:
        shutil.copyfileobj(original, handle, 1024 * 1024)


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux `renameat2(RENAME_EXCHANGE)`); False where the C library
    or the file system cannot."""
    func = getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)
    if func is None:
        return False
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if func(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(a))


def replace_dir(new: Path, path: Path, retired: Path) -> Path | None:
    """Make the complete, synced folder `new` be `path`; return where the previous folder now
    is (the caller removes it), or None if there was none.

    With `renameat2(RENAME_EXCHANGE)` the swap is one step: a power cut leaves the old folder or
    the new one at `path`, never neither. Where the file system cannot exchange, the old folder
    is renamed to `retired` first: a cut between the two renames leaves it whole there, and the
    caller puts it back when it starts (`path` missing, `retired` present).
    """
    old: Path | None
    if not os.path.lexists(path):
        os.rename(new, path)
        old = None
    elif _exchange(new, path):
        old = new
    else:
        os.rename(path, retired)
        try:
            fsync_dir(retired.parent)
            os.rename(new, path)
        except OSError:
            os.rename(retired, path)  # the caller's cleanup of `new` must not take it along
            raise
        old = retired
    fsync_dir(path.parent)
    if new.parent != path.parent:
        fsync_dir(new.parent)
    return old


def socket_listening(path: Path) -> bool:
    """Whether a process accepts connections on the Unix socket `path` (a stale file left by a
    crash, or no file, does not count)."""
    with contextlib.closing(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True
