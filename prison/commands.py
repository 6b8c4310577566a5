"""Prison commands: signed with the prison key, recorded in the store, sent by the service."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from prison.store import Command, PrisonStore
from wire.envelope import seal
from wire.prison import PrisonLockdown, prison_audience


def issue_lockdown(store: PrisonStore, key: Ed25519PrivateKey, prison: str, *, locked: bool,
                   by: str, reason: str, now_ms: int, ttl_s: int) -> Command:
    """Sign the next prison lockdown (or lift it) and record it; the running service sends it
    to every wing (and again to a wing whose link comes back)."""
    if not reason.strip():
        raise ValueError("a reason is required")

    def make(version: int) -> Command:
        document = PrisonLockdown(audience=prison_audience(prison), version=version,
                                  issued=now_ms, expires=now_ms + ttl_s * 1000, locked=locked,
                                  by=by, reason=reason.strip())
        return Command(version, locked, by, document.reason, now_ms, document.expires,
                       seal(document, key))

    return store.add_command(make)
