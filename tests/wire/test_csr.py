"""A tablet's CSR: what `agent enrol-request` makes, IT's station reads back exactly, and every
request IT must not sign is refused with its reason."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID

from wire import certs
from wire.csr import make_csr, read_csr

KEY = certs.new_key()


def pem(csr: x509.CertificateSigningRequest) -> bytes:
    return csr.public_bytes(serialization.Encoding.PEM)


def request_named(*names: str) -> bytes:
    """A CSR whose subject holds these common names, signed by its own P-256 key."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, n) for n in names])
    return pem(x509.CertificateSigningRequestBuilder().subject_name(subject)
               .sign(KEY, hashes.SHA256()))


def signature_broken(data: bytes) -> bytes:
    """The CSR with the last byte of its signature changed: its key did not sign this."""
    der = bytearray(x509.load_pem_x509_csr(data).public_bytes(serialization.Encoding.DER))
    der[-1] ^= 0x01
    body = base64.encodebytes(bytes(der)).decode().replace("\n", "")
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN CERTIFICATE REQUEST-----\n" + "\n".join(lines)
            + "\n-----END CERTIFICATE REQUEST-----\n").encode()


def test_a_request_made_on_the_tablet_reads_back_as_its_id_key_and_serial() -> None:
    request = read_csr(pem(make_csr(KEY, "T1", "SN-0042")))
    assert (request.device_id, request.hardware_serial) == ("T1", "SN-0042")
    assert request.public_key.public_numbers() == KEY.public_key().public_numbers()
    assert read_csr(pem(make_csr(KEY, "T1"))).hardware_serial is None


REFUSED: list[tuple[str, bytes, str]] = [
    ("too large", b"x" * (certs.MAX_PEM_BYTES + 1), "more than 65536"),
    ("not PEM", b"hello", "not a PEM certificate signing request"),
    ("a P-384 key", pem(make_csr(ec.generate_private_key(ec.SECP384R1()), "T1")),
     "CSR key type EC secp384r1 is not accepted: tablets must use EC P-256"),
    ("an Ed25519 key", pem(x509.CertificateSigningRequestBuilder()
                           .subject_name(certs.subject_name("T1"))
                           .sign(Ed25519PrivateKey.generate(), None)),
     "CSR key type .*Ed25519.* is not accepted"),
    ("a signature that is not its key's", signature_broken(pem(make_csr(KEY, "T1"))),
     "CSR signature does not match its key"),
    ("an id with a slash", pem(make_csr(KEY, "a/b")), "'a/b' is not a valid tablet id"),
    ("the gateway's identity", pem(make_csr(KEY, "gateway@w1")),
     "'gateway@w1' is not a valid tablet id"),
    ("two common names", request_named("T1", "T2"), "exactly one common name"),
    ("no common name", request_named(), "exactly one common name"),
]


@pytest.mark.parametrize(("data", "reason"), [row[1:] for row in REFUSED],
                         ids=[row[0] for row in REFUSED])
def test_a_request_it_must_not_sign_is_refused_with_its_reason(data: bytes, reason: str) -> None:
    with pytest.raises(certs.PkiError, match=reason):
        read_csr(data)
