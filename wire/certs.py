"""The estate's X.509 material as bytes: PEM in and out, every input capped, and the checks a
holder makes of a certificate chain. Pure (no files, no clock: callers pass `now`), so IT's
station, which issues the material, and the tablet, which checks its enrolment bundle, share
one reading of it. Every key is ECDSA P-256; identity is the certificate's common name.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

MAX_PEM_BYTES = 64 * 1024
ORGANISATION = "Cellbridge estate"


class PkiError(Exception):
    """Material we cannot use; the message is one line for the operator."""


class WrongPassphrase(PkiError):
    """An encrypted key and no passphrase, or the wrong one."""


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def subject_name(common_name: str, *, serial: str | None = None) -> x509.Name:
    """The subject of every estate certificate and CSR: the organisation, the CN, and a tablet's
    hardware serial when it gave one."""
    attributes = [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ]
    if serial:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attributes)


def common_name(cert: x509.Certificate | x509.CertificateSigningRequest) -> str:
    """The one CN of a subject (the identity); raises PkiError if there is not exactly one."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise PkiError("certificate subject must have exactly one common name")
    value = names[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def cert_pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def key_pem(key: ec.EllipticCurvePrivateKey, passphrase: bytes | None = None) -> bytes:
    """PKCS#8 PEM; encrypted (PBES2, AES-256) when a passphrase is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def load_key(pem: bytes, passphrase: bytes | None, what: str) -> ec.EllipticCurvePrivateKey:
    """Load an EC P-256 private key; a wrong or missing passphrase is `WrongPassphrase`, anything
    else unusable is `PkiError`."""
    if len(pem) > MAX_PEM_BYTES:
        raise PkiError(f"{what} is {len(pem)} bytes, more than {MAX_PEM_BYTES}")
    encrypted = b"ENCRYPTED" in pem.split(b"\n", 1)[0]
    if encrypted and not passphrase:
        raise WrongPassphrase(f"{what} is encrypted: the estate passphrase is needed")
    try:
        key = serialization.load_pem_private_key(pem, password=passphrase if encrypted else None)
    except (ValueError, TypeError) as exc:
        if encrypted:
            raise WrongPassphrase(f"wrong estate passphrase for {what}") from exc
        raise PkiError(f"{what} is not a readable private key") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise PkiError(f"{what} is not an EC P-256 key")
    return key


def load_certs(pem: bytes, what: str) -> list[x509.Certificate]:
    """Every certificate in `pem` (at most `MAX_PEM_BYTES`); raises PkiError."""
    if len(pem) > MAX_PEM_BYTES:
        raise PkiError(f"{what} is {len(pem)} bytes, more than {MAX_PEM_BYTES}")
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise PkiError(f"{what} is not PEM certificates ({exc})") from exc
    return certs


def load_cert(pem: bytes, what: str) -> x509.Certificate:
    """The one certificate in `pem`; raises PkiError for none or several."""
    certs = load_certs(pem, what)
    if len(certs) != 1:
        raise PkiError(f"{what} must hold exactly one certificate, not {len(certs)}")
    return certs[0]


def verify_chain(
    leaf: x509.Certificate, chain: Sequence[x509.Certificate], now: dt.datetime | None
) -> None:
    """Check `leaf` ← chain[0] ← … ← chain[-1] (self-signed root): each signature, CA flags and,
    unless `now` is None, each validity window. Raises PkiError naming the first failing link."""
    links = [leaf, *chain]
    if not chain:
        raise PkiError("empty CA chain")
    for child, parent in zip(links, [*chain, chain[-1]], strict=True):
        try:
            child.verify_directly_issued_by(parent)
        except (ValueError, TypeError, InvalidSignature) as exc:
            raise PkiError(
                f"{common_name(child)!r} is not signed by {common_name(parent)!r}"
            ) from exc
        if now is not None and not child.not_valid_before_utc <= now <= child.not_valid_after_utc:
            raise PkiError(f"{common_name(child)!r} is not valid now (expired or not yet valid)")
    for ca in chain:
        try:
            constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            raise PkiError(f"{common_name(ca)!r} is not a CA") from None
        if not constraints.ca:
            raise PkiError(f"{common_name(ca)!r} is not a CA")


def public_key_matches(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return bool(cert.public_key().public_bytes(*fmt) == key.public_key().public_bytes(*fmt))


def fingerprint(cert: x509.Certificate) -> str:
    """sha256 of the certificate (DER), lower-case hex: how a tablet image pins the estate root."""
    return cert.fingerprint(hashes.SHA256()).hex()
