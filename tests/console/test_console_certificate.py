"""`provision wing` makes the staff console's HTTPS certificate: issued by the wing CA, a server
certificate for the wing host's names, its key private."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from provisioning import estate as est
from provisioning.demo_estate import DemoEstate


def test_a_new_wing_has_a_console_certificate_from_its_ca(tmp_path: Path) -> None:
    demo = DemoEstate(tmp_path / "estate", wing="w9")
    material = demo.estate.gateway_material("w9")
    chain = x509.load_pem_x509_certificates((material / est.CONSOLE_CERT).read_bytes())
    cert, ca = chain[0], chain[1]
    wing_ca = x509.load_pem_x509_certificate((demo.estate.wing_dir("w9") / "ca.pem").read_bytes())
    assert ca == wing_ca
    cert.verify_directly_issued_by(wing_ca)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "console.w9"
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "127.0.0.1" in [str(ip) for ip in names.get_values_for_type(x509.IPAddress)]
    key_path = material / est.CONSOLE_KEY
    assert key_path.stat().st_mode & 0o077 == 0
    key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    assert key.public_key() == cert.public_key()
