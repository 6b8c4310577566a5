"""The wing gateway's copy of the estate's TUF repository, and its timestamp upkeep.

`release publish` drops signed metadata, targets and the online keys into the gateway's
repository directory (metadata/, targets/, keys/). The gateway never signs targets: it only
re-signs timestamp metadata with its online key before the current one expires, so tablets keep
seeing fresh metadata while a release stays unchanged, and stop trusting it if the gateway dies.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from pydantic import Field
from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, Snapshot, Timestamp

from common.config import Settings
from common.tuf_repo import TIMESTAMP_LIFETIME, bump_snapshot, bump_timestamp
from wire.tuf_layout import TufLayout

log = logging.getLogger(__name__)

REFRESH_MARGIN = datetime.timedelta(hours=6)
SNAPSHOT_MARGIN = datetime.timedelta(days=2)


class RepositoryConfig(Settings):
    """`[repository]` of the gateway config: where `release publish` put the repository and how
    tablets reach it."""

    dir: Path
    cert: Path
    """The gateway's HTTPS certificate (PEM) and its key."""
    key: Path
    host: str = "0.0.0.0"
    port: int = Field(default=8443, ge=1, le=65535)
    refresh_interval_s: float = Field(default=300.0, gt=0)


class RepositoryError(Exception):
    """The repository directory is incomplete or its online key unusable."""


class GatewayRepository(TufLayout):
    """A published repository directory (`wire.tuf_layout`): metadata, targets, online keys."""

    def online_signer(self, role: str) -> CryptoSigner:
        path = self.online_key(role)
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), None)
        except (OSError, ValueError, TypeError) as exc:
            raise RepositoryError(f"{role} key {path} unusable: {exc}") from exc
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise RepositoryError(f"{role} key {path} is not Ed25519")
        return CryptoSigner(key)

    def timestamp_expires(self) -> datetime.datetime | None:
        path = self.role_file(Timestamp.type)
        if not path.exists():
            return None
        return Metadata[Timestamp].from_file(str(path)).signed.expires

    def refresh_timestamp(
        self,
        now: datetime.datetime,
        margin: datetime.timedelta = REFRESH_MARGIN,
        lifetime: datetime.timedelta = TIMESTAMP_LIFETIME,
    ) -> bool:
        """Re-sign timestamp if it expires within `margin` (and snapshot first if that expires
        within `SNAPSHOT_MARGIN`); True if it did."""
        snapshot_path = self.role_file(Snapshot.type)
        if not snapshot_path.exists():
            return False  # nothing published yet
        snapshot = Metadata[Snapshot].from_file(str(snapshot_path)).signed
        snapshot_due = snapshot.expires - now <= SNAPSHOT_MARGIN
        if snapshot_due:
            fresh = bump_snapshot(self, self.online_signer("snapshot"), now)
            log.info("snapshot re-signed: version %d", fresh.signed.version)
        expires = self.timestamp_expires()
        if not snapshot_due and expires is not None and expires - now > margin:
            return False
        md = bump_timestamp(self, self.online_signer("timestamp"), now, lifetime)
        log.info("timestamp re-signed: version %d, expires %s", md.signed.version,
                 md.signed.expires.isoformat())
        return True

    async def keep_fresh(
        self,
        interval_s: float = 300.0,
        margin: datetime.timedelta = REFRESH_MARGIN,
        lifetime: datetime.timedelta = TIMESTAMP_LIFETIME,
    ) -> None:
        """Run forever: check the timestamp every `interval_s` and re-sign it when due."""
        while True:
            try:
                now = datetime.datetime.now(datetime.UTC)  # the gateway's own clock is trusted
                await asyncio.to_thread(self.refresh_timestamp, now, margin, lifetime)
            except (RepositoryError, OSError, ValueError) as exc:
                log.error("timestamp refresh failed: %s", exc)
            await asyncio.sleep(interval_s)
