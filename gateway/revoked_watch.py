"""The gateway's view of `revoked.json` (`wire.revoked`): the revoked tablet ids, re-read
whenever `provision revoke` replaces the file, so messages from a tablet revoked while its
session is up are refused from then on."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from common.config import ConfigError
from wire.revoked import MAX_BYTES, RevokedList, RevokedListError, parse

__all__ = ["RevokedListError", "RevokedWatch", "load", "watch"]

log = logging.getLogger(__name__)


def load(path: Path) -> RevokedList:
    """The list at `path`; raises RevokedListError (unreadable, too large or malformed)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise RevokedListError(f"cannot read revoked list {path}: {exc.strerror}") from exc
    return parse(data)


class RevokedWatch:
    """The revoked ids from `path`, re-read whenever the file changes (it is replaced
    atomically by `provision revoke`). Construction fails if the file cannot be read: a gateway
    told to honour a list must not start without it. A later unreadable or malformed version
    keeps the last good list and is logged."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp = self._stat()
        self._revoked = load(path).ids()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            st = os.stat(self.path)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def is_revoked(self, tablet_id: str) -> bool:
        return tablet_id in self.ids()

    def ids(self) -> frozenset[str]:
        """Every tablet revoked so far (the file re-read if it changed)."""
        stamp = self._stat()
        if stamp != self._stamp:
            try:
                fresh = load(self.path).ids()
            except RevokedListError as exc:
                log.error("%s; keeping the previous list", exc)
            else:
                # Revocation is one-way: a list with fewer ids does not un-revoke anyone.
                self._revoked = self._revoked | fresh
                self._stamp = stamp
        return self._revoked


def watch(path: Path | None) -> RevokedWatch | None:
    """The gateway's watch on its configured list (none configured: None); ConfigError if the
    list cannot be read, so the gateway does not start without it."""
    if path is None:
        return None
    try:
        return RevokedWatch(path)
    except RevokedListError as exc:
        raise ConfigError(str(exc)) from exc
