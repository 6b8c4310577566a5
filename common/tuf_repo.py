"""Re-signing the online TUF roles of a repository directory: IT's release tool does it at every
release and publish, the wing gateway whenever timestamp (or snapshot) nears its expiry. One
implementation, so both sign the same way; every write is atomic (`common.files`).
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

from securesystemslib.signer import CryptoSigner
from tuf.api.metadata import Metadata, MetaFile, Snapshot, Timestamp
from tuf.api.serialization.json import JSONSerializer

from common.files import write_atomic
from wire.tuf_layout import TufLayout

TIMESTAMP_LIFETIME = datetime.timedelta(days=1)
SNAPSHOT_LIFETIME = datetime.timedelta(days=7)


def write_metadata(path: Path, md: Metadata[Any]) -> None:
    """Write signed metadata as the repository keeps it (indented JSON), atomically."""
    write_atomic(path, md.to_bytes(JSONSerializer(compact=False)))


def _sign(path: Path, md: Metadata[Any], signer: CryptoSigner, expires: datetime.datetime) -> None:
    """Set `expires` (whole seconds), replace the signatures by `signer`'s, write to `path`."""
    md.signed.expires = expires.replace(microsecond=0)
    md.signatures.clear()
    md.sign(signer)
    write_metadata(path, md)


def bump_timestamp(
    layout: TufLayout,
    signer: CryptoSigner,
    now: datetime.datetime,
    lifetime: datetime.timedelta = TIMESTAMP_LIFETIME,
    after: int = 0,
) -> Metadata[Timestamp]:
    """Sign timestamp version+1 (and above `after`) naming the current snapshot, valid for
    `lifetime` from `now`."""
    snapshot = Metadata[Snapshot].from_file(str(layout.role_file(Snapshot.type))).signed
    path = layout.role_file(Timestamp.type)
    if path.exists():
        md = Metadata[Timestamp].from_file(str(path))
        md.signed.version += 1
    else:
        md = Metadata(Timestamp(expires=now))
    md.signed.version = max(md.signed.version, after + 1)
    md.signed.snapshot_meta = MetaFile(version=snapshot.version)
    _sign(path, md, signer, now + lifetime)
    return md


def bump_snapshot(
    layout: TufLayout,
    signer: CryptoSigner,
    now: datetime.datetime,
    lifetime: datetime.timedelta = SNAPSHOT_LIFETIME,
    after: int = 0,
) -> Metadata[Snapshot]:
    """Sign snapshot version+1 (and above `after`) with the same contents, valid for `lifetime`
    from `now`. Timestamp must be re-signed after it."""
    path = layout.role_file(Snapshot.type)
    md = Metadata[Snapshot].from_file(str(path))
    md.signed.version = max(md.signed.version + 1, after + 1)
    _sign(path, md, signer, now + lifetime)
    return md
