"""A tablet's certificate signing request: what `agent enrol-request` writes on the tablet and
`provision enrol --csr` reads on IT's station. Pure: bytes and keys in, checked values out."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from wire.certs import MAX_PEM_BYTES, PkiError, common_name, subject_name
from wire.topics import is_device_id


@dataclass(frozen=True, slots=True)
class TabletRequest:
    """What we take from a tablet's CSR: its id (CN), its public key, its hardware serial."""

    device_id: str
    public_key: ec.EllipticCurvePublicKey
    hardware_serial: str | None


def make_csr(
    key: ec.EllipticCurvePrivateKey, device_id: str, hardware_serial: str | None = None
) -> x509.CertificateSigningRequest:
    """The CSR of tablet `device_id` for `key`, signed by that key (proof it holds it)."""
    return (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject_name(device_id, serial=hardware_serial))
        .sign(key, hashes.SHA256())
    )


def read_csr(pem: bytes) -> TabletRequest:
    """Parse and check a tablet's CSR: signed by its own key, an EC P-256 key, a valid tablet id
    as CN. Nothing else in the request (extensions, other names) is trusted or copied.
    Raises PkiError naming the first problem."""
    if len(pem) > MAX_PEM_BYTES:
        raise PkiError(f"CSR is {len(pem)} bytes, more than {MAX_PEM_BYTES}")
    try:
        csr = x509.load_pem_x509_csr(pem)
    except ValueError as exc:
        raise PkiError("not a PEM certificate signing request") from exc
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
