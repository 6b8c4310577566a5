"""The enrolment bundle: everything a tablet needs to join its wing, checked as a whole.

A bundle is a directory:

- ``enrolment.json`` tablet id, wing, cell, the gateway's broker address;
- ``ca.pem`` the CA chain (wing CA, then estate root); ``tablet.pem`` the tablet certificate;
- ``tablet.key`` the tablet key, in bulk mode only (with a CSR the key never left the tablet);
- ``gateway-signing.pub`` the gateway's Ed25519 key that signs commands and policies;
- ``manifest.json`` the sha256 of every part, and ``manifest.sig`` the wing CA's signature of it.

`load_bundle` refuses a bundle whose parts do not match the manifest, whose manifest is not signed
by the wing CA in it, whose chain does not lead to the estate root (pinned, when the tablet image
carries the root's fingerprint), or whose certificate is not the tablet's own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, ValidationError

from provisioning import pki
from provisioning.files import PRIVATE, PUBLIC, write_atomic
from wire.envelope import canonical_json, key_id, public_key_from_pem, public_key_to_pem
from wire.topics import is_device_id

FORMAT = 1
INFO = "enrolment.json"
CA = "ca.pem"
CERT = "tablet.pem"
KEY = "tablet.key"
GATEWAY_KEY = "gateway-signing.pub"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"
REQUIRED = frozenset({INFO, CA, CERT, GATEWAY_KEY})
OPTIONAL = frozenset({KEY})
MAX_PART_BYTES = 64 * 1024


class BundleError(Exception):
    """A bundle the tablet must not use; the message is one line saying why."""


class EnrolmentInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    format: int
    tablet_id: str
    wing: str
    cell: str
    broker_host: str
    broker_port: int


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    format: int
    tablet_id: str
    files: dict[str, str]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_bundle(
    info: EnrolmentInfo,
    chain: list[pki.x509.Certificate],
    cert: pki.x509.Certificate,
    gateway_key: Ed25519PublicKey,
    wing_ca_key: ec.EllipticCurvePrivateKey,
    tablet_key: ec.EllipticCurvePrivateKey | None = None,
) -> dict[str, bytes]:
    """The bundle's files, name → bytes, manifest and its signature included."""
    parts: dict[str, bytes] = {
        INFO: canonical_json(info.model_dump()),
        CA: pki.cert_pem(*chain),
        CERT: pki.cert_pem(cert),
        GATEWAY_KEY: public_key_to_pem(gateway_key),
    }
    if tablet_key is not None:
        parts[KEY] = pki.key_pem(tablet_key)
    manifest = canonical_json(
        Manifest(
            format=FORMAT,
            tablet_id=info.tablet_id,
            files={name: sha256(data) for name, data in sorted(parts.items())},
        ).model_dump()
    )
    parts[MANIFEST] = manifest
    parts[SIGNATURE] = wing_ca_key.sign(manifest, ec.ECDSA(hashes.SHA256()))
    return parts


def write_bundle(directory: Path, parts: Mapping[str, bytes]) -> None:
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


def load_bundle(
    directory: Path,
    *,
    now: dt.datetime | None,
    key_path: Path | None = None,
    root_fingerprint: str | None = None,
) -> Identity:
    """Check a bundle and return the identity in it, or raise BundleError saying what is wrong.

    `now`: check validity windows against it; None skips them (a tablet at boot may not know
    the time yet, and the broker refuses an expired certificate anyway);
    `key_path`: the tablet key made by `agent enrol-request` (a CSR bundle holds none);
    `root_fingerprint`: sha256 of the estate root the tablet already trusts, if any.
    """
    try:
        return _load(directory, now, key_path, root_fingerprint)
    except BundleError as exc:
        raise BundleError(f"enrolment bundle {directory} refused: {exc}") from exc
    except pki.PkiError as exc:
        raise BundleError(f"enrolment bundle {directory} refused: {exc}") from exc


def _load(
    directory: Path, now: dt.datetime | None, key_path: Path | None, root_fingerprint: str | None
) -> Identity:
    if not directory.is_dir():
        raise BundleError("not a directory")
    raw_manifest = _read_part(directory, MANIFEST)
    signature = _read_part(directory, SIGNATURE)
    try:
        manifest = Manifest.model_validate_json(raw_manifest)
    except ValidationError as exc:
        raise BundleError(f"{MANIFEST} is malformed ({exc.errors()[0]['msg']})") from exc
    if manifest.format != FORMAT:
        raise BundleError(f"bundle format {manifest.format} is not {FORMAT}")
    names = set(manifest.files)
    if not names >= REQUIRED or not names <= REQUIRED | OPTIONAL:
        raise BundleError(f"{MANIFEST} lists {sorted(names)}, not the parts of a bundle")
    present = {p.name for p in directory.iterdir()} - {MANIFEST, SIGNATURE}
    unexpected = present - names
    if unexpected:
        raise BundleError(f"{sorted(unexpected)[0]} is not in the manifest")
    parts = {}
    for name in sorted(names):
        data = _read_part(directory, name)
        if sha256(data) != manifest.files[name]:
            raise BundleError(f"{name} does not match its manifest hash (altered or corrupted)")
        parts[name] = data

    chain = pki.load_certs(parts[CA], CA)
    cert = pki.load_cert(parts[CERT], CERT)
    if not chain:
        raise BundleError(f"{CA} holds no certificate")
    wing_ca = chain[0]
    try:
        public = wing_ca.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):
            raise BundleError("the wing CA key is not an EC key")
        public.verify(signature, raw_manifest, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise BundleError(f"{MANIFEST} is not signed by the wing CA in {CA}") from None
    pki.verify_chain(cert, chain, now)
    if root_fingerprint is not None and pki.fingerprint(chain[-1]) != root_fingerprint.lower():
        raise BundleError("the CA chain ends at a root this tablet does not trust")

    try:
        info = EnrolmentInfo.model_validate_json(parts[INFO])
    except ValidationError as exc:
        raise BundleError(f"{INFO} is malformed ({exc.errors()[0]['msg']})") from exc
    if info.tablet_id != manifest.tablet_id or not is_device_id(info.tablet_id):
        raise BundleError(
            f"{INFO} names tablet {info.tablet_id!r}, the manifest {manifest.tablet_id!r}"
        )
    if pki.common_name(cert) != info.tablet_id:
        raise BundleError(f"{CERT} is for {pki.common_name(cert)!r}, not {info.tablet_id!r}")
    if pki.common_name(wing_ca) != f"wing {info.wing} CA":
        raise BundleError(f"{CA} is the CA of another wing, not {info.wing!r}")
    try:
        gateway_key = public_key_from_pem(parts[GATEWAY_KEY])
    except ValueError as exc:
        raise BundleError(f"{GATEWAY_KEY} is not an Ed25519 public key") from exc

    if KEY in parts:
        if key_path is not None:
            raise BundleError("the bundle carries a key but this tablet made its own")
        key_path = directory / KEY
        key_bytes = parts[KEY]
    else:
        if key_path is None:
            raise BundleError("no tablet key: run `agent enrol-request` on this tablet")
        try:
            key_bytes = key_path.read_bytes()
        except OSError as exc:
            raise BundleError(f"tablet key {key_path} unreadable ({exc.strerror})") from exc
    key = pki.load_key(key_bytes, None, "tablet key")
    if not pki.public_key_matches(cert, key):
        raise BundleError(f"{CERT} was not issued for this tablet's key")
    return Identity(
        tablet_id=info.tablet_id,
        wing=info.wing,
        cell=info.cell,
        broker_host=info.broker_host,
        broker_port=info.broker_port,
        ca_path=directory / CA,
        cert_path=directory / CERT,
        key_path=key_path,
        gateway_key=gateway_key,
        gateway_key_path=directory / GATEWAY_KEY,
        cert_expires=cert.not_valid_after_utc,
    )
