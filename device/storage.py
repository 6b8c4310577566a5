"""Small JSON files in the shell's data directory, written atomically (temp file + os.replace),
so a power cut leaves the old file or the new one, never half of one."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from common.files import PRIVATE, write_atomic

log = logging.getLogger(__name__)

MAX_BYTES = 256 * 1024


def read_json(path: Path) -> Any | None:
    """The file's JSON, or None if it is missing, too large or unreadable (logged)."""
    try:
        if path.stat().st_size > MAX_BYTES:
            log.warning("%s: over %d bytes, ignored", path, MAX_BYTES)
            return None
        return json.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable (%s), ignored", path, exc)
        return None


def write_json(path: Path, value: Any) -> None:
    write_atomic(path, json.dumps(value, sort_keys=True).encode("utf-8"), PRIVATE)
