"""The estate's certificate authority: issuing certificates and CRLs, built with
`cryptography`; no files, no clock of its own (callers pass `now`), so every rule here is testable
alone. Reading and checking the material (PEM, chains) is `wire.certs`, shared with the tablet;
tablet CSRs are `wire.csr`.

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
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from wire.certs import subject_name

ROOT_DAYS = 20 * 365
WING_CA_DAYS = 10 * 365
SERVICE_DAYS = 2 * 365
TABLET_DAYS = 2 * 365
CRL_DAYS = 365


def gateway_identity(wing: str) -> str:
    """The gateway's certificate CN and MQTT username: not a valid tablet id, by construction."""
    return f"gateway@{wing}"


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
    name = subject_name(f"{estate} root CA")
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
            subject_name(f"wing {wing} CA"),
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
        _builder(subject_name(cn, serial=hardware_serial), ca_cert.subject, public_key, start, end)
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


def crl_pem(crl: x509.CertificateRevocationList) -> bytes:
    return crl.public_bytes(serialization.Encoding.PEM)
