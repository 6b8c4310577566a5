"""The enrolment bundle on disk: one directory, one file per part (`wire.enrolment` checks them).

IT's station writes it (`provision enrol`); the tablet's agent loads it at start. Reading is
capped per part and only the parts the manifest lists are read; anything else in the directory
refuses the bundle.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from common.files import PRIVATE, PUBLIC, write_atomic
from wire.enrolment import (
    CA,
    CERT,
    GATEWAY_KEY,
    KEY,
    MANIFEST,
    MAX_PART_BYTES,
    SIGNATURE,
    BundleError,
    check_bundle,
    read_manifest,
)
from wire.envelope import key_id


def write_bundle(directory: Path, parts: Mapping[str, bytes]) -> None:
    """Write each part as a file of `directory`; the tablet key 0600, the rest 0644."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in parts.items():
        write_atomic(directory / name, data, PRIVATE if name == KEY else PUBLIC)


@dataclass(frozen=True, slots=True)
class Identity:
    """A tablet's checked identity, ready for the agent's broker connection and envelope checks."""

    tablet_id: str
    wing: str
    cell: str
    broker_host: str
    broker_port: int
    ca_path: Path
    cert_path: Path
    key_path: Path
    gateway_key: Ed25519PublicKey
    gateway_key_path: Path
    cert_expires: dt.datetime

    @property
    def gateway_key_id(self) -> str:
        return key_id(self.gateway_key)


def load_bundle(
    directory: Path,
    *,
    now: dt.datetime | None,
    key_path: Path | None = None,
    root_fingerprint: str | None = None,
) -> Identity:
    """Check the bundle in `directory` and return the identity in it, or raise BundleError
    (one line, naming the directory) saying what is wrong.

    `now`, `root_fingerprint`: as `wire.enrolment.check_bundle`; `key_path`: the tablet key made
    by `agent enrol-request` (a CSR bundle holds none).
    """
    try:
        return _load(directory, now, key_path, root_fingerprint)
    except BundleError as exc:
        raise BundleError(f"enrolment bundle {directory} refused: {exc}") from exc


def _load(
    directory: Path, now: dt.datetime | None, key_path: Path | None, root_fingerprint: str | None
) -> Identity:
    if not directory.is_dir():
        raise BundleError("not a directory")
    raw_manifest = _read_part(directory, MANIFEST)
    signature = _read_part(directory, SIGNATURE)
    present = {p.name for p in directory.iterdir()} - {MANIFEST, SIGNATURE}
    manifest = read_manifest(raw_manifest, present)
    parts = {name: _read_part(directory, name) for name in sorted(manifest.files)}
    own_key = None
    if key_path is not None:
        try:
            own_key = key_path.read_bytes()
        except OSError as exc:
            raise BundleError(f"tablet key {key_path} unreadable ({exc.strerror})") from exc
    checked = check_bundle(
        raw_manifest, signature, parts, now=now, root_fingerprint=root_fingerprint,
        own_key=own_key,
    )
    info = checked.info
    return Identity(
        tablet_id=info.tablet_id,
        wing=info.wing,
        cell=info.cell,
        broker_host=info.broker_host,
        broker_port=info.broker_port,
        ca_path=directory / CA,
        cert_path=directory / CERT,
        key_path=key_path if key_path is not None else directory / KEY,
        gateway_key=checked.gateway_key,
        gateway_key_path=directory / GATEWAY_KEY,
        cert_expires=checked.cert_expires,
    )


def _read_part(directory: Path, name: str) -> bytes:
    path = directory / name
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_PART_BYTES + 1)
    except FileNotFoundError:
        raise BundleError(f"{name} is missing") from None
    except OSError as exc:
        raise BundleError(f"{name} is unreadable ({exc.strerror})") from exc
    if len(data) > MAX_PART_BYTES:
        raise BundleError(f"{name} is larger than {MAX_PART_BYTES} bytes")
    return data
