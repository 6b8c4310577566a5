"""Atomic file writes for the estate: a command that fails half-way leaves no half-written file
(single files: `common.files`; whole directories: `staged_directory`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from common.files import PRIVATE, PUBLIC, write_atomic

__all__ = ["PRIVATE", "PUBLIC", "staged_directory", "write_atomic"]


@contextlib.contextmanager
def staged_directory(final: Path, mode: int = 0o755) -> Iterator[Path]:
    """Yield an empty staging directory beside `final`; on success it is renamed to `final` in
    one step, on any error it is removed, and is `mode` from the moment it appears. `final` must
    not exist (or be an empty directory)."""
    final.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".stage"))
    try:
        yield stage
        os.chmod(stage, mode)
        os.rename(stage, final)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
