"""The wing's revoked tablets by id, beside its CRL (`revoked.json`).

The broker refuses a revoked certificate at its next connection, but a session that is already
up stays up, and the broker tells nobody which certificate serial a client holds. So `revoke`
also writes the tablet ids, and the gateway, which knows who sent each message, refuses any
message from a listed tablet from then on (`RevokedWatch`).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

log = logging.getLogger(__name__)

MAX_BYTES = 4 * 1024 * 1024


class RevokedTablet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    tablet_id: str
    cert_serial: str
    status: str
    reason: str
    at: str


class RevokedList(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format: int = 1
    wing: str
    crl_number: int
    tablets: list[RevokedTablet]

    def ids(self) -> frozenset[str]:
        return frozenset(t.tablet_id for t in self.tablets)


class RevokedListError(Exception):
    """An unreadable or malformed list; the message is one line."""


def empty(wing: str) -> str:
    return RevokedList(wing=wing, crl_number=1, tablets=[]).model_dump_json(indent=2)


def parse(data: bytes) -> RevokedList:
    if len(data) > MAX_BYTES:
        raise RevokedListError(f"revoked list larger than {MAX_BYTES} bytes")
    try:
        return RevokedList.model_validate_json(data)
    except ValidationError as exc:
        raise RevokedListError(f"revoked list malformed: {exc.errors()[0]['msg']}") from exc


def load(path: Path) -> RevokedList:
    try:
        return parse(path.read_bytes())
    except OSError as exc:
        raise RevokedListError(f"cannot read revoked list {path}: {exc.strerror}") from exc


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
        return tablet_id in self._revoked
