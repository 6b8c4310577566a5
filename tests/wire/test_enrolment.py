"""The enrolment bundle as bytes: IT's station builds it, the tablet checks it whole; every way a
bundle can be wrong is refused with its reason (the directory on disk: tests/provisioning)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from provisioning import pki
from wire import certs
from wire.enrolment import (
    CA,
    CERT,
    GATEWAY_KEY,
    INFO,
    KEY,
    MANIFEST,
    MAX_PART_BYTES,
    SIGNATURE,
    BundleError,
    CheckedBundle,
    EnrolmentInfo,
    build_bundle,
    check_bundle,
    sha256,
)
from wire.envelope import canonical_json, key_id, public_key_to_pem

NOW = dt.datetime(2030, 6, 1, tzinfo=dt.UTC)
WING = "w1"
TABLET = "T1"


@dataclass(frozen=True)
class Estate:
    """A root, the wing's CA and one tablet, as IT's station issues them."""

    root: x509.Certificate
    wing_ca: x509.Certificate
    wing_key: ec.EllipticCurvePrivateKey
    tablet_key: ec.EllipticCurvePrivateKey
    tablet_cert: x509.Certificate
    gateway_key: Ed25519PrivateKey


def make_estate(wing: str = WING, tablet: str = TABLET) -> Estate:
    root_key = certs.new_key()
    root = pki.make_root_ca(root_key, "test estate", NOW - dt.timedelta(days=1))
    wing_key = certs.new_key()
    wing_ca = pki.make_wing_ca(root, root_key, wing_key, wing, NOW - dt.timedelta(days=1))
    tablet_key = certs.new_key()
    tablet_cert = pki.issue_leaf(wing_ca, wing_key, tablet_key.public_key(), tablet,
                                 NOW - dt.timedelta(days=1))
    return Estate(root, wing_ca, wing_key, tablet_key, tablet_cert,
                  Ed25519PrivateKey.from_private_bytes(bytes(range(32))))


ESTATE = make_estate()
OTHER_ESTATE = make_estate()


def info(**changes: object) -> EnrolmentInfo:
    fields: dict[str, object] = {"format": 1, "tablet_id": TABLET, "wing": WING, "cell": "3-01",
                                 "broker_host": "10.0.0.5", "broker_port": 8883}
    return EnrolmentInfo.model_validate({**fields, **changes})


def bulk_bundle(estate: Estate = ESTATE, **info_changes: object) -> dict[str, bytes]:
    return build_bundle(info(**info_changes), [estate.wing_ca, estate.root],
                        estate.tablet_cert, estate.gateway_key.public_key(),
                        estate.wing_key, estate.tablet_key)


@dataclass
class Case:
    """One bundle as the tablet receives it, and what the tablet brings to the check."""

    parts: dict[str, bytes] = field(default_factory=bulk_bundle)
    own_key: bytes | None = None
    root_fingerprint: str | None = None
    now: dt.datetime | None = NOW

    def check(self) -> CheckedBundle:
        body = {k: v for k, v in self.parts.items() if k not in (MANIFEST, SIGNATURE)}
        return check_bundle(self.parts.get(MANIFEST, b""), self.parts.get(SIGNATURE, b""), body,
                            now=self.now, root_fingerprint=self.root_fingerprint,
                            own_key=self.own_key)


def resigned(parts: dict[str, bytes], edit: Callable[[dict[str, object]], None] = lambda m: None,
             signer: ec.EllipticCurvePrivateKey = ESTATE.wing_key) -> dict[str, bytes]:
    """`parts` with the manifest recomputed, edited, and signed: what a wing CA (or whoever holds
    `signer`) would vouch for."""
    body = {k: v for k, v in parts.items() if k not in (MANIFEST, SIGNATURE)}
    manifest = {"format": 1, "tablet_id": TABLET,
                "files": {name: sha256(data) for name, data in sorted(body.items())}}
    edit(manifest)
    raw = canonical_json(manifest)
    return {**body, MANIFEST: raw, SIGNATURE: signer.sign(raw, ec.ECDSA(hashes.SHA256()))}


def with_part(name: str, data: bytes) -> dict[str, bytes]:
    return {**bulk_bundle(), name: data}


def without(name: str) -> dict[str, bytes]:
    return {k: v for k, v in bulk_bundle().items() if k != name}


def csr_bundle() -> dict[str, bytes]:
    """A bundle made from the tablet's CSR: no key in it."""
    return build_bundle(info(), [ESTATE.wing_ca, ESTATE.root],
                        ESTATE.tablet_cert, ESTATE.gateway_key.public_key(),
                        ESTATE.wing_key)


def test_a_bulk_bundle_gives_the_identity_the_wing_ca_vouches_for() -> None:
    checked = Case().check()
    assert (checked.info.tablet_id, checked.info.wing, checked.info.cell) == (TABLET, WING, "3-01")
    assert (checked.info.broker_host, checked.info.broker_port) == ("10.0.0.5", 8883)
    assert key_id(checked.gateway_key) == key_id(ESTATE.gateway_key.public_key())
    assert checked.key_in_bundle
    assert checked.cert_expires == ESTATE.tablet_cert.not_valid_after_utc


def test_a_csr_bundle_pairs_with_the_key_the_tablet_made() -> None:
    checked = Case(csr_bundle(), own_key=certs.key_pem(ESTATE.tablet_key)).check()
    assert checked.info.tablet_id == TABLET and not checked.key_in_bundle


def test_a_bundle_leading_to_the_pinned_root_and_one_checked_without_a_clock_pass() -> None:
    assert Case(root_fingerprint=certs.fingerprint(ESTATE.root).upper()).check()
    assert Case(now=None).check()


REFUSED: list[tuple[str, Case, str]] = [
    ("a part altered", Case(with_part(GATEWAY_KEY, public_key_to_pem(
        Ed25519PrivateKey.generate().public_key()))),
     "gateway-signing.pub does not match its manifest hash"),
    ("a part missing", Case(without(INFO)), "enrolment.json is missing"),
    ("an unlisted part", Case(with_part("autorun.sh", b"#!/bin/sh\n")),
     "autorun.sh is not in the manifest"),
    ("a part too large", Case(resigned(with_part(CA, b"x" * (MAX_PART_BYTES + 1)))),
     "ca.pem is larger than"),
    ("no manifest", Case(without(MANIFEST)), "manifest.json is malformed"),
    ("a garbled manifest", Case(with_part(MANIFEST, b"{not json")), "manifest.json is malformed"),
    ("a manifest too large", Case(with_part(MANIFEST, b" " * (MAX_PART_BYTES + 1))),
     "manifest.json is larger than"),
    ("another bundle format", Case(resigned(bulk_bundle(), lambda m: m.update(format=2))),
     "bundle format 2 is not 1"),
    ("a manifest without a required part", Case(resigned(without(CERT))),
     "not the parts of a bundle"),
    ("hashes recomputed by someone else", Case(resigned(
        with_part(GATEWAY_KEY, public_key_to_pem(Ed25519PrivateKey.generate().public_key())),
        signer=certs.new_key())),
     "manifest.json is not signed by the wing CA in ca.pem"),
    ("no signature", Case(without(SIGNATURE)), "is not signed by the wing CA"),
    ("a CA file with no certificate", Case(resigned(with_part(CA, b""))),
     "ca.pem is not PEM certificates"),
    ("two tablet certificates", Case(resigned(with_part(
        CERT, certs.cert_pem(ESTATE.tablet_cert, ESTATE.tablet_cert)))),
     "tablet.pem must hold exactly one certificate, not 2"),
    ("a certificate from another estate", Case(resigned(with_part(
        CERT, certs.cert_pem(OTHER_ESTATE.tablet_cert)))),
     "'T1' is not signed by 'wing w1 CA'"),
    ("a root this tablet does not trust", Case(root_fingerprint=certs.fingerprint(
        OTHER_ESTATE.root)),
     "the CA chain ends at a root this tablet does not trust"),
    ("an expired certificate", Case(now=NOW + dt.timedelta(days=3 * 365)), "is not valid now"),
    ("enrolment info malformed", Case(resigned(with_part(INFO, b'{"format": 1}'))),
     "enrolment.json is malformed"),
    ("info and manifest name different tablets", Case(resigned(
        bulk_bundle(), lambda m: m.update(tablet_id="T2"))),
     "enrolment.json names tablet 'T1', the manifest 'T2'"),
    ("a certificate for another tablet", Case(resigned(
        with_part(INFO, canonical_json(info(tablet_id="T2").model_dump())),
        lambda m: m.update(tablet_id="T2"))),
     "tablet.pem is for 'T1', not 'T2'"),
    ("the CA of another wing", Case(resigned(
        with_part(INFO, canonical_json(info(wing="w2").model_dump())))),
     "ca.pem is the CA of another wing, not 'w2'"),
    ("a gateway key that is not Ed25519", Case(resigned(with_part(
        GATEWAY_KEY, b"-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n"))),
     "gateway-signing.pub is not an Ed25519 public key"),
    ("a key in the bundle and one made on the tablet",
     Case(own_key=certs.key_pem(ESTATE.tablet_key)),
     "the bundle carries a key but this tablet made its own"),
    ("no key at all", Case(csr_bundle()), "no tablet key: run `agent enrol-request`"),
    ("the tablet's key is not the certificate's",
     Case(csr_bundle(), own_key=certs.key_pem(certs.new_key())),
     "tablet.pem was not issued for this tablet's key"),
    ("an unreadable tablet key", Case(csr_bundle(), own_key=b"not a key"),
     "tablet key is not a readable private key"),
]


@pytest.mark.parametrize(("case", "reason"), [row[1:] for row in REFUSED],
                         ids=[row[0] for row in REFUSED])
def test_a_wrong_bundle_is_refused_with_its_reason(case: Case, reason: str) -> None:
    with pytest.raises(BundleError, match=reason) as refused:
        case.check()
    assert "\n" not in str(refused.value)


def test_the_manifest_lists_every_part_by_its_hash_and_only_the_key_is_optional() -> None:
    parts = bulk_bundle()
    manifest = json.loads(parts[MANIFEST])
    assert manifest["files"] == {name: sha256(parts[name])
                                 for name in (CA, CERT, GATEWAY_KEY, INFO, KEY)}
    assert KEY not in json.loads(csr_bundle()[MANIFEST])["files"]

