"""Where a benchmark keeps its wing while it runs: in memory (/dev/shm) when the machine has it,
so the figures measure the code, not this machine's disk (a tablet writes its own flash)."""

from __future__ import annotations

import tempfile
from pathlib import Path


def scratch(prefix: str = "cellbridge-bench-") -> Path:
    """A new directory for one run; the caller removes it."""
    shm = Path("/dev/shm")
    return Path(tempfile.mkdtemp(prefix=prefix, dir=shm if shm.is_dir() else None))
