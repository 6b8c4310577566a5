"""The wing's revoked tablets by id, beside its CRL (`revoked.json`): the contract between
`provision revoke`, which writes it, and the gateway, which refuses their messages.

The broker refuses a revoked certificate at its next connection, but a session that is already
up stays up, and the broker tells nobody which certificate serial a client holds. So `revoke`
also writes the tablet ids, and the gateway, which knows who sent each message, refuses any
message from a listed tablet from then on. Pure: bytes in, a checked list out.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, ValidationError

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
    """The list of a new wing: nobody revoked yet (its CRL is number 1)."""
    return RevokedList(wing=wing, crl_number=1, tablets=[]).model_dump_json(indent=2)


def parse(data: bytes) -> RevokedList:
    """The list in `data` (at most `MAX_BYTES`); raises RevokedListError."""
    if len(data) > MAX_BYTES:
        raise RevokedListError(f"revoked list larger than {MAX_BYTES} bytes")
    try:
        return RevokedList.model_validate_json(data)
    except ValidationError as exc:
        raise RevokedListError(f"revoked list malformed: {exc.errors()[0]['msg']}") from exc
