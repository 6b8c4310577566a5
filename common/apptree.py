"""The file list of an app folder: the sha256 of every regular file, as a sealed manifest lists it.

The gateway seals it, the demo and release tools pack it, the agent re-checks it before every
launch: one walk, so producer and consumer cannot disagree on what counts as a file of the app.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from wire.manifest import MANIFEST_NAME, MAX_FILES

_CHUNK = 1 << 20


class TreeError(Exception):
    """An app folder holding something that cannot be part of an app."""


def hash_tree(root: Path) -> dict[str, str]:
    """sha256 of every regular file under `root` (relative POSIX paths), except the manifest.

    Raises TreeError for anything that is not a regular file or folder (a symlink, a device node,
    a FIFO) and for more than `MAX_FILES` files.
    """
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in sorted(dirnames):
            if os.path.islink(os.path.join(dirpath, name)):
                raise TreeError(f"{_rel(root, dirpath, name)} is a symlink")
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            rel = _rel(root, dirpath, name)
            if rel == MANIFEST_NAME:
                continue
            mode = os.lstat(path).st_mode
            if not stat.S_ISREG(mode):
                raise TreeError(f"{rel} is not a regular file")
            if len(found) >= MAX_FILES:
                raise TreeError(f"more than {MAX_FILES} files")
            found[rel] = _sha256(path)
    return found


def _rel(root: Path, dirpath: str, name: str) -> str:
    return Path(os.path.relpath(os.path.join(dirpath, name), root)).as_posix()


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
