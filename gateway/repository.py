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
from tuf.api.metadata import Metadata, MetaFile, Snapshot, Timestamp
from tuf.api.serialization.json import JSONSerializer

from common.config import Settings
from common.files import write_atomic

log = logging.getLogger(__name__)

TIMESTAMP_LIFETIME = datetime.timedelta(days=1)
REFRESH_MARGIN = datetime.timedelta(hours=6)
SNAPSHOT_LIFETIME = datetime.timedelta(days=7)
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


def bump_timestamp(
    metadata_dir: Path,
    signer: CryptoSigner,
    now: datetime.datetime,
    lifetime: datetime.timedelta = TIMESTAMP_LIFETIME,
    after: int = 0,
) -> Metadata[Timestamp]:
    """Sign timestamp version+1 (and above `after`) naming the current snapshot, valid for
    `lifetime` from `now`."""
    snapshot = Metadata[Snapshot].from_file(str(metadata_dir / "snapshot.json")).signed
    path = metadata_dir / "timestamp.json"
    if path.exists():
        md = Metadata[Timestamp].from_file(str(path))
        md.signed.version += 1
    else:
        md = Metadata(Timestamp(expires=now))
    md.signed.version = max(md.signed.version, after + 1)
    md.signed.snapshot_meta = MetaFile(version=snapshot.version)
    md.signed.expires = (now + lifetime).replace(microsecond=0)
    md.signatures.clear()
    md.sign(signer)
    write_atomic(path, md.to_bytes(JSONSerializer(compact=False)))
    return md


def bump_snapshot(
    metadata_dir: Path,
    signer: CryptoSigner,
    now: datetime.datetime,
    lifetime: datetime.timedelta = SNAPSHOT_LIFETIME,
    after: int = 0,
) -> Metadata[Snapshot]:
    """Sign snapshot version+1 (and above `after`) with the same contents, valid for `lifetime`
    from `now`. Timestamp must be re-signed after it."""
    path = metadata_dir / "snapshot.json"
    md = Metadata[Snapshot].from_file(str(path))
    md.signed.version = max(md.signed.version + 1, after + 1)
    md.signed.expires = (now + lifetime).replace(microsecond=0)
    md.signatures.clear()
    md.sign(signer)
    write_atomic(path, md.to_bytes(JSONSerializer(compact=False)))
    return md


class GatewayRepository:
    """A published repository directory: metadata/, targets/, keys/timestamp.pem."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)

    @property
    def metadata_dir(self) -> Path:
        return self.dir / "metadata"

    @property
    def targets_dir(self) -> Path:
        return self.dir / "targets"

    def online_signer(self, role: str) -> CryptoSigner:
        path = self.dir / "keys" / f"{role}.pem"
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), None)
        except (OSError, ValueError, TypeError) as exc:
            raise RepositoryError(f"{role} key {path} unusable: {exc}") from exc
        if not isinstance(key, ed25519.Ed25519PrivateKey):
            raise RepositoryError(f"{role} key {path} is not Ed25519")
        return CryptoSigner(key)

    def timestamp_expires(self) -> datetime.datetime | None:
        path = self.metadata_dir / "timestamp.json"
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
        snapshot_path = self.metadata_dir / "snapshot.json"
        if not snapshot_path.exists():
            return False  # nothing published yet
        snapshot = Metadata[Snapshot].from_file(str(snapshot_path)).signed
        snapshot_due = snapshot.expires - now <= SNAPSHOT_MARGIN
        if snapshot_due:
            fresh = bump_snapshot(self.metadata_dir, self.online_signer("snapshot"), now)
            log.info("snapshot re-signed: version %d", fresh.signed.version)
        expires = self.timestamp_expires()
        if not snapshot_due and expires is not None and expires - now > margin:
            return False
        md = bump_timestamp(self.metadata_dir, self.online_signer("timestamp"), now, lifetime)
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
