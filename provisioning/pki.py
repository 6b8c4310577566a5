"""The estate's X.509 material (DESIGN §1, §3), built with `cryptography`: no files, no clock of
its own (callers pass `now`), so every rule here is testable alone.

Chain: estate root CA (offline) → one intermediate CA per wing → the wing's broker server
certificate, its gateway client certificate and its tablets' client certificates. Identity is the
certificate's CN: a tablet id, or ``gateway@<wing>`` for the gateway (``@`` can never appear in a
tablet id, so no tablet can hold the gateway's identity). Every key is ECDSA P-256.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from wire.topics import is_device_id

ROOT_DAYS = 20 * 365
WING_CA_DAYS = 10 * 365
SERVICE_DAYS = 2 * 365
TABLET_DAYS = 2 * 365
CRL_DAYS = 365
MAX_PEM_BYTES = 64 * 1024

ORGANISATION = "Cellbridge estate"


class PkiError(Exception):
    """Material we cannot use; the message is one line for the operator."""


class WrongPassphrase(PkiError):
    pass


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def gateway_identity(wing: str) -> str:
    """The gateway's certificate CN and MQTT username: not a valid tablet id, by construction."""
    return f"gateway@{wing}"


def _name(common_name: str, *, serial: str | None = None) -> x509.Name:
    attributes = [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANISATION),
        x509.NameAttribute(NameOID.COMMON_NAME, common_name),
    ]
    if serial:
        attributes.append(x509.NameAttribute(NameOID.SERIAL_NUMBER, serial))
    return x509.Name(attributes)


def common_name(cert: x509.Certificate | x509.CertificateSigningRequest) -> str:
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(names) != 1:
        raise PkiError("certificate subject must have exactly one common name")
    value = names[0].value
    return value if isinstance(value, str) else value.decode("utf-8", "replace")


def _builder(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _leaf_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=True,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _authority(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def make_root_ca(
    key: ec.EllipticCurvePrivateKey, estate: str, now: dt.datetime, days: int = ROOT_DAYS
) -> x509.Certificate:
    """The estate's self-signed root: signs only wing CAs (path length 1)."""
    name = _name(f"{estate} root CA")
    return (
        _builder(
            name,
            name,
            key.public_key(),
            now - dt.timedelta(minutes=5),
            now + dt.timedelta(days=days),
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .sign(key, hashes.SHA256())
    )


def make_wing_ca(
    root_cert: x509.Certificate,
    root_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    wing: str,
    now: dt.datetime,
    days: int = WING_CA_DAYS,
) -> x509.Certificate:
    """A wing's intermediate CA: signs the wing's broker, gateway and tablet certificates."""
    return (
        _builder(
            _name(f"wing {wing} CA"),
            root_cert.subject,
            key.public_key(),
            now - dt.timedelta(minutes=5),
            min(now + dt.timedelta(days=days), root_cert.not_valid_after_utc),
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_usage(), critical=True)
        .add_extension(_authority(root_cert), critical=False)
        .sign(root_key, hashes.SHA256())
    )


def _subject_alt_names(names: Iterable[str]) -> list[x509.GeneralName]:
    result: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            result.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            result.append(x509.DNSName(name))
    return result


def issue_leaf(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    public_key: ec.EllipticCurvePublicKey,
    cn: str,
    now: dt.datetime,
    *,
    server_names: Sequence[str] = (),
    hardware_serial: str | None = None,
    days: int = TABLET_DAYS,
    not_before: dt.datetime | None = None,
) -> x509.Certificate:
    """An end-entity certificate: a server one when `server_names` are given (the broker), else a
    client one (tablet, gateway). `not_before` exists so tests can make already-expired ones."""
    start = not_before if not_before is not None else now - dt.timedelta(minutes=5)
    end = min(start + dt.timedelta(days=days), ca_cert.not_valid_after_utc)
    builder = (
        _builder(_name(cn, serial=hardware_serial), ca_cert.subject, public_key, start, end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_leaf_usage(), critical=True)
        .add_extension(_authority(ca_cert), critical=False)
    )
    if server_names:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        ).add_extension(
            x509.SubjectAlternativeName(_subject_alt_names(server_names)), critical=False
        )
    else:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    return builder.sign(ca_key, hashes.SHA256())


@dataclass(frozen=True, slots=True)
class TabletRequest:
    """What we take from a tablet's CSR: its id (CN), its public key, its hardware serial."""

    device_id: str
    public_key: ec.EllipticCurvePublicKey
    hardware_serial: str | None


def read_csr(pem: bytes) -> TabletRequest:
    """Parse and check a tablet's CSR: signed by its own key, an EC P-256 key, a valid tablet id
    as CN. Nothing else in the request (extensions, other names) is trusted or copied."""
    if len(pem) > MAX_PEM_BYTES:
        raise PkiError(f"CSR is {len(pem)} bytes, more than {MAX_PEM_BYTES}")
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError as exc:
        raise PkiError(f"not a PEM certificate signing request ({exc})") from exc
    try:
        public_key = csr.public_key()
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise PkiError(f"CSR public key unreadable ({exc})") from exc
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1
    ):
        kind = type(public_key).__name__.removeprefix("_").replace("PublicKey", "")
        if isinstance(public_key, ec.EllipticCurvePublicKey):
            kind = f"EC {public_key.curve.name}"
        raise PkiError(f"CSR key type {kind} is not accepted: tablets must use EC P-256")
    if not csr.is_signature_valid:
        raise PkiError("CSR signature does not match its key")
    device_id = common_name(csr)
    if not is_device_id(device_id):
        raise PkiError(f"CSR common name {device_id[:80]!r} is not a valid tablet id")
    serials = csr.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    serial = str(serials[0].value) if serials else None
    return TabletRequest(device_id, public_key, serial)


def make_csr(
    key: ec.EllipticCurvePrivateKey, device_id: str, hardware_serial: str | None = None
) -> x509.CertificateSigningRequest:
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(_name(device_id, serial=hardware_serial))
        .sign(key, hashes.SHA256())
    )


@dataclass(frozen=True, slots=True)
class Revocation:
    serial: int
    when: dt.datetime


def make_crl(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    revoked: Iterable[Revocation],
    number: int,
    last_update: dt.datetime,
    days: int = CRL_DAYS,
) -> x509.CertificateRevocationList:
    """The wing CA's CRL. `last_update` must grow with `number`: OpenSSL, holding an old and a
    new CRL after a broker reload, prefers the one with the later lastUpdate."""
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(last_update)
        .next_update(last_update + dt.timedelta(days=days))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(_authority(ca_cert), critical=False)
    )
    for entry in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(entry.when)
            .build()
        )
    return builder.sign(ca_key, hashes.SHA256())


def crl_number(crl: x509.CertificateRevocationList) -> int:
    return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)


# --- serialisation ---------------------------------------------------------------------------


def cert_pem(*certs: x509.Certificate) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def crl_pem(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.PEM)


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
    """Load an EC private key; a wrong or missing passphrase is `WrongPassphrase`."""
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
    if len(pem) > MAX_PEM_BYTES:
        raise PkiError(f"{what} is {len(pem)} bytes, more than {MAX_PEM_BYTES}")
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise PkiError(f"{what} is not PEM certificates ({exc})") from exc
    return certs


def load_cert(pem: bytes, what: str) -> x509.Certificate:
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
        constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
        if not constraints.ca:
            raise PkiError(f"{common_name(ca)!r} is not a CA")


def public_key_matches(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return bool(cert.public_key().public_bytes(*fmt) == key.public_key().public_bytes(*fmt))


def fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()
