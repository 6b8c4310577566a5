"""One demo per directory: a second `cellbridge demo` (or `--tour`) on a directory in use would
rewrite the running wing's configs and start a second agent on the same state, so it refuses.

The lock is an advisory `flock` on `DIR/demo.lock`, which holds the owner's pid for the message.
The kernel drops the lock when its owner dies, so a lock file left by a dead process (a crash,
`kill -9`) is simply taken over.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

LOCK_NAME = "demo.lock"


class DirectoryInUse(RuntimeError):
    """Another live process runs a demo in this directory."""

    def __init__(self, directory: Path, pid: int | None) -> None:
        owner = f"process {pid}" if pid is not None else "another process"
        super().__init__(
            f"{directory} is in use by a running demo ({owner}, lock file "
            f"{directory / LOCK_NAME}): stop it first (Ctrl-C in its terminal"
            f"{f', or kill {pid}' if pid is not None else ''}), or pick another --dir")
        self.pid = pid


def _owner(path: Path) -> int | None:
    with contextlib.suppress(OSError, ValueError):
        return int(path.read_text().strip())
    return None


@contextlib.contextmanager
def holding(directory: Path) -> Iterator[Path]:
    """Hold `directory`'s demo lock for the duration, or raise `DirectoryInUse`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DirectoryInUse(directory, _owner(path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            yield path
        finally:
            # Emptied, not removed: removing it would let a second demo lock a new file while a
            # third still waits on this one.
            os.ftruncate(fd, 0)
    finally:
        os.close(fd)
