"""Reading the estate's X.509 material: keys and certificates load only as the estate makes
them, and a chain is checked link by link, each refusal naming its reason."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from provisioning import pki
from wire import certs

NOW = dt.datetime(2030, 6, 1, tzinfo=dt.UTC)
ROOT_KEY = certs.new_key()
ROOT = pki.make_root_ca(ROOT_KEY, "test estate", NOW - dt.timedelta(days=1))
WING_KEY = certs.new_key()
WING = pki.make_wing_ca(ROOT, ROOT_KEY, WING_KEY, "w1", NOW - dt.timedelta(days=1))
TABLET_KEY = certs.new_key()
TABLET = pki.issue_leaf(WING, WING_KEY, TABLET_KEY.public_key(), "T1", NOW - dt.timedelta(days=1))
OTHER_ROOT_KEY = certs.new_key()
OTHER_ROOT = pki.make_root_ca(OTHER_ROOT_KEY, "look-alike", NOW - dt.timedelta(days=1))


def test_a_key_and_certificates_round_trip_through_pem() -> None:
    loaded = certs.load_key(certs.key_pem(TABLET_KEY, b"secret"), b"secret", "tablet key")
    assert certs.public_key_matches(TABLET, loaded)
    assert certs.load_certs(certs.cert_pem(WING, ROOT), "chain") == [WING, ROOT]
    assert certs.load_cert(certs.cert_pem(TABLET), "tablet.pem") == TABLET
    assert certs.common_name(TABLET) == "T1"
    assert certs.fingerprint(ROOT) == ROOT.fingerprint(hashes.SHA256()).hex()
    certs.verify_chain(TABLET, [WING, ROOT], NOW)
    certs.verify_chain(TABLET, [WING, ROOT], None)


KEYS_REFUSED: list[tuple[str, bytes, bytes | None, type[certs.PkiError], str]] = [
    ("encrypted, no passphrase", certs.key_pem(TABLET_KEY, b"secret"), None,
     certs.WrongPassphrase, "is encrypted: the estate passphrase is needed"),
    ("the wrong passphrase", certs.key_pem(TABLET_KEY, b"secret"), b"guess",
     certs.WrongPassphrase, "wrong estate passphrase for k"),
    ("not a key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n", None,
     certs.PkiError, "k is not a readable private key"),
    ("a P-384 key", ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()), None, certs.PkiError, "k is not an EC P-256 key"),
    ("too large", b"x" * (certs.MAX_PEM_BYTES + 1), None, certs.PkiError, "more than 65536"),
]


@pytest.mark.parametrize(("pem", "passphrase", "error", "reason"),
                         [row[1:] for row in KEYS_REFUSED], ids=[row[0] for row in KEYS_REFUSED])
def test_a_key_that_cannot_be_used_is_refused_with_its_reason(
    pem: bytes, passphrase: bytes | None, error: type[certs.PkiError], reason: str
) -> None:
    with pytest.raises(error, match=reason):
        certs.load_key(pem, passphrase, "k")


CERTS_REFUSED: list[tuple[str, bytes, str]] = [
    ("not PEM", b"hello", "c is not PEM certificates"),
    ("too large", b"x" * (certs.MAX_PEM_BYTES + 1), "more than 65536"),
    ("two where one is meant", certs.cert_pem(TABLET, WING),
     "c must hold exactly one certificate, not 2"),
]


@pytest.mark.parametrize(("pem", "reason"), [row[1:] for row in CERTS_REFUSED],
                         ids=[row[0] for row in CERTS_REFUSED])
def test_a_certificate_file_that_cannot_be_used_is_refused(pem: bytes, reason: str) -> None:
    with pytest.raises(certs.PkiError, match=reason):
        certs.load_cert(pem, "c")


FAKE_CA_KEY = certs.new_key()
FAKE_CA = pki.issue_leaf(WING, WING_KEY, FAKE_CA_KEY.public_key(), "cell 3 CA",
                         NOW - dt.timedelta(days=1))
"""A tablet-like leaf certificate of the wing..."""
SIGNED_BY_LEAF = pki.issue_leaf(FAKE_CA, FAKE_CA_KEY, TABLET_KEY.public_key(), "T1",
                                NOW - dt.timedelta(days=1))
"""...that signed a certificate as if it were a CA: every signature holds, the CA flag does not."""

CHAINS_REFUSED: list[tuple[str, x509.Certificate, list[x509.Certificate], dt.datetime, str]] = [
    ("an empty chain", TABLET, [], NOW, "empty CA chain"),
    ("a chain to another root", TABLET, [WING, OTHER_ROOT], NOW,
     "'wing w1 CA' is not signed by 'look-alike root CA'"),
    ("a leaf not issued by the chain", TABLET, [OTHER_ROOT], NOW,
     "'T1' is not signed by 'look-alike root CA'"),
    ("an expired certificate", TABLET, [WING, ROOT], NOW + dt.timedelta(days=3 * 365),
     "'T1' is not valid now"),
    ("a certificate not valid yet", TABLET, [WING, ROOT], NOW - dt.timedelta(days=2),
     "'T1' is not valid now"),
    ("a leaf in a CA's place", SIGNED_BY_LEAF, [FAKE_CA, WING, ROOT], NOW,
     "'cell 3 CA' is not a CA"),
]


@pytest.mark.parametrize(("leaf", "chain", "now", "reason"), [row[1:] for row in CHAINS_REFUSED],
                         ids=[row[0] for row in CHAINS_REFUSED])
def test_a_chain_that_does_not_hold_is_refused_at_its_first_bad_link(
    leaf: x509.Certificate, chain: list[x509.Certificate], now: dt.datetime, reason: str
) -> None:
    with pytest.raises(certs.PkiError, match=reason):
        certs.verify_chain(leaf, chain, now)
