"""The enrolment bundle: everything a tablet needs to join its wing, checked as a whole.

A bundle is a set of named parts (on disk, one file each: `common.enrolment`):

- ``enrolment.json`` tablet id, wing, cell, the gateway's broker address;
- ``ca.pem`` the CA chain (wing CA, then estate root); ``tablet.pem`` the tablet certificate;
- ``tablet.key`` the tablet key, in bulk mode only (with a CSR the key never left the tablet);
- ``gateway-signing.pub`` the gateway's Ed25519 key that signs commands and policies;
- ``manifest.json`` the sha256 of every part, and ``manifest.sig`` the wing CA's signature of it.

IT's station builds one (`build_bundle`); the tablet checks one (`read_manifest`, then
`check_bundle`) and refuses a bundle whose parts do not match the manifest, whose manifest is not
signed by the wing CA in it, whose chain does not lead to the estate root (pinned, when the
tablet image carries the root's fingerprint), or whose certificate is not the tablet's own.
Pure: bytes in, checked values or `BundleError` out.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Set
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, ValidationError

from wire import certs
from wire.envelope import canonical_json, public_key_from_pem, public_key_to_pem
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
    chain: list[x509.Certificate],
    cert: x509.Certificate,
    gateway_key: Ed25519PublicKey,
    wing_ca_key: ec.EllipticCurvePrivateKey,
    tablet_key: ec.EllipticCurvePrivateKey | None = None,
) -> dict[str, bytes]:
    """The bundle's parts, name → bytes, manifest and its signature included."""
    parts: dict[str, bytes] = {
        INFO: canonical_json(info.model_dump()),
        CA: certs.cert_pem(*chain),
        CERT: certs.cert_pem(cert),
        GATEWAY_KEY: public_key_to_pem(gateway_key),
    }
    if tablet_key is not None:
        parts[KEY] = certs.key_pem(tablet_key)
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


def read_manifest(raw: bytes, present: Set[str]) -> Manifest:
    """The manifest in `raw`, if it is one of this format listing the parts of a bundle, and
    `present` (the names beside it, manifest and signature aside) holds nothing it does not list.
    Raises BundleError."""
    if len(raw) > MAX_PART_BYTES:
        raise BundleError(f"{MANIFEST} is larger than {MAX_PART_BYTES} bytes")
    try:
        manifest = Manifest.model_validate_json(raw)
    except ValidationError as exc:
        raise BundleError(f"{MANIFEST} is malformed ({exc.errors()[0]['msg']})") from exc
    if manifest.format != FORMAT:
        raise BundleError(f"bundle format {manifest.format} is not {FORMAT}")
    names = set(manifest.files)
    if not names >= REQUIRED or not names <= REQUIRED | OPTIONAL:
        raise BundleError(f"{MANIFEST} lists {sorted(names)}, not the parts of a bundle")
    unexpected = set(present) - names
    if unexpected:
        raise BundleError(f"{sorted(unexpected)[0]} is not in the manifest")
    return manifest


@dataclass(frozen=True, slots=True)
class CheckedBundle:
    """A bundle that passed every check: the tablet's identity as the wing CA vouches for it."""

    info: EnrolmentInfo
    cert: x509.Certificate
    chain: list[x509.Certificate]
    gateway_key: Ed25519PublicKey
    key_in_bundle: bool
    """True: bulk mode, the tablet key is the bundle's part; False: the tablet made its own."""

    @property
    def cert_expires(self) -> dt.datetime:
        return self.cert.not_valid_after_utc


def check_bundle(
    raw_manifest: bytes,
    signature: bytes,
    parts: Mapping[str, bytes],
    *,
    now: dt.datetime | None,
    root_fingerprint: str | None = None,
    own_key: bytes | None = None,
) -> CheckedBundle:
    """Check a whole bundle; raises BundleError saying what is wrong.

    `parts`: every part the manifest lists, name → bytes; `now`: check validity windows
    against it (None skips them: a tablet at boot may not know the time yet, and the broker
    refuses an expired certificate anyway); `root_fingerprint`: sha256 of the estate root the
    tablet already trusts, if any; `own_key`: the PEM key the tablet made itself (CSR mode).
    """
    try:
        return _check(raw_manifest, signature, parts, now, root_fingerprint, own_key)
    except certs.PkiError as exc:
        raise BundleError(str(exc)) from exc


def _check(
    raw_manifest: bytes,
    signature: bytes,
    parts: Mapping[str, bytes],
    now: dt.datetime | None,
    root_fingerprint: str | None,
    own_key: bytes | None,
) -> CheckedBundle:
    manifest = read_manifest(raw_manifest, set(parts))
    for name in sorted(manifest.files):
        data = parts.get(name)
        if data is None:
            raise BundleError(f"{name} is missing")
        if len(data) > MAX_PART_BYTES:
            raise BundleError(f"{name} is larger than {MAX_PART_BYTES} bytes")
        if sha256(data) != manifest.files[name]:
            raise BundleError(f"{name} does not match its manifest hash (altered or corrupted)")

    chain = certs.load_certs(parts[CA], CA)
    cert = certs.load_cert(parts[CERT], CERT)
    if not chain:
        raise BundleError(f"{CA} holds no certificate")
    wing_ca = chain[0]
    public = wing_ca.public_key()
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise BundleError("the wing CA key is not an EC key")
    try:
        public.verify(signature, raw_manifest, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise BundleError(f"{MANIFEST} is not signed by the wing CA in {CA}") from None
    certs.verify_chain(cert, chain, now)
    if root_fingerprint is not None and certs.fingerprint(chain[-1]) != root_fingerprint.lower():
        raise BundleError("the CA chain ends at a root this tablet does not trust")

    try:
        info = EnrolmentInfo.model_validate_json(parts[INFO])
    except ValidationError as exc:
        raise BundleError(f"{INFO} is malformed ({exc.errors()[0]['msg']})") from exc
    if info.tablet_id != manifest.tablet_id or not is_device_id(info.tablet_id):
        raise BundleError(
            f"{INFO} names tablet {info.tablet_id!r}, the manifest {manifest.tablet_id!r}"
        )
    if certs.common_name(cert) != info.tablet_id:
        raise BundleError(f"{CERT} is for {certs.common_name(cert)!r}, not {info.tablet_id!r}")
    if certs.common_name(wing_ca) != f"wing {info.wing} CA":
        raise BundleError(f"{CA} is the CA of another wing, not {info.wing!r}")
    try:
        gateway_key = public_key_from_pem(parts[GATEWAY_KEY])
    except ValueError as exc:
        raise BundleError(f"{GATEWAY_KEY} is not an Ed25519 public key") from exc

    if KEY in parts and own_key is not None:
        raise BundleError("the bundle carries a key but this tablet made its own")
    key_bytes = parts.get(KEY, own_key)
    if key_bytes is None:
        raise BundleError("no tablet key: run `agent enrol-request` on this tablet")
    key = certs.load_key(key_bytes, None, "tablet key")
    if not certs.public_key_matches(cert, key):
        raise BundleError(f"{CERT} was not issued for this tablet's key")
    return CheckedBundle(info, cert, chain, gateway_key, key_in_bundle=KEY in parts)
