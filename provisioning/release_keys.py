"""Key files of the estate's release tooling: TUF signing keys and the RAUC release certificate.

Offline keys (root, targets, the release CA and certificate) are encrypted at rest with the release
passphrase; only an explicit insecure demo mode writes them in the clear. The online keys
(snapshot, timestamp) are the gateway's: they are written 0600 and handed over by `release
publish`, because the gateway signs with them unattended.
"""

from __future__ import annotations

import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID
from securesystemslib.signer import CryptoSigner

from common.files import PRIVATE, write_atomic

INSECURE_MARKER = "INSECURE-DEMO-KEYS"


class ReleaseError(Exception):
    """A release operation was refused: bad input, a missing or locked key, a failed tool."""


def _encryption(passphrase: bytes | None) -> serialization.KeySerializationEncryption:
    if passphrase is None:
        return serialization.NoEncryption()
    return serialization.BestAvailableEncryption(passphrase)


def private_pem(key: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey,
                passphrase: bytes | None) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, _encryption(passphrase)
    )


def new_signer() -> tuple[CryptoSigner, ed25519.Ed25519PrivateKey]:
    """A fresh Ed25519 TUF signer and its private key (to be written out)."""
    private = ed25519.Ed25519PrivateKey.generate()
    return CryptoSigner(private), private


def load_signer(path: Path, passphrase: bytes | None) -> CryptoSigner:
    """Load a TUF signer from a PKCS#8 PEM file (encrypted unless written in demo mode)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ReleaseError(f"cannot read key {path}: {exc.strerror}") from exc
    encrypted = b"ENCRYPTED" in data.split(b"\n", 1)[0]
    try:
        private = serialization.load_pem_private_key(data, passphrase if encrypted else None)
    except (ValueError, TypeError) as exc:
        how = ("give the release passphrase set at `cellbridge release init` with "
               "--passphrase-file, $CELLBRIDGE_RELEASE_PASSPHRASE or at the prompt")
        reason = f"wrong passphrase: {how}" if encrypted else "not a private key"
        if encrypted and passphrase is None:
            reason = f"encrypted and no passphrase given: {how}"
        raise ReleaseError(f"cannot unlock the release key {path}: {reason}") from exc
    if not isinstance(private, ed25519.Ed25519PrivateKey):
        raise ReleaseError(f"key {path} is not Ed25519")
    return CryptoSigner(private)


def make_release_ca(
    directory: Path, passphrase: bytes | None, *, days: int = 3650, name: str = "Cellbridge"
) -> tuple[Path, Path, Path]:
    """Create the estate release CA and one release signing certificate (ECDSA P-256: RAUC's
    CMS signing does not take Ed25519). Returns (ca.pem, release.pem, release.key)."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} release CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{name} release")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    ca_pem = directory / "ca.pem"
    release_pem = directory / "release.pem"
    release_key = directory / "release.key"
    ca_pem.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    write_atomic(directory / "ca.key", private_pem(ca_key, passphrase), PRIVATE)
    release_pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    write_atomic(release_key, private_pem(key, passphrase), PRIVATE)
    return ca_pem, release_pem, release_key
