"""Durable, atomic file writes: the one way every part of Cellbridge replaces a file, so a power
cut or a refused command leaves the old file or the new one, never a torn or half-written one."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

PRIVATE = 0o600
PUBLIC = 0o644


def fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable (the new directory entry reaches the disk)."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = PUBLIC) -> None:
    """Write `data` to `path` through a synced temp file in the same directory and `os.replace`,
    then sync the directory. `mode` is set before any byte is written (a private key is never
    readable by others, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def copy_atomic(source: Path, destination: Path, mode: int = PUBLIC) -> None:
    """Copy a (possibly large) file into place with the guarantees of `write_atomic`, streaming."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        dir=destination.parent, prefix=f".{destination.name}.", suffix=".tmp"
    )
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle, open(source, "rb") as original:
            shutil.copyfileobj(original, handle, 1024 * 1024)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, destination)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(destination.parent)
