"""`cellbridge provision prison`: the prison's own CA, broker, service identity, and each wing's
bridge, from an estate whose keys are encrypted."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from cryptography import x509

from common.config import load
from prison.config import PrisonConfig
from provisioning import estate as est
from tests.provisioning.test_cli import ok, run
from tests.support.broker import broker_directory


@pytest.fixture
def estate(tmp_path: Path) -> Path:
    root = tmp_path / "estate"
    ok(run(root, "init", "--name", "HMP Test"))
    for wing in ("A", "B"):
        ok(run(root, "wing", "--wing", wing, "--broker-dir", str(tmp_path / f"broker-{wing}")))
    return root


def test_a_wrong_passphrase_writes_nothing(estate: Path) -> None:
    result = run(estate, "prison", "--prison", "P", passphrase="not the passphrase at all")
    assert result.exit_code != 0
    assert not (estate / "prison").exists()
    assert not (estate / "wings" / "A" / "broker" / "prison-bridge.json").exists()


def test_the_prison_has_its_own_root_and_each_wing_its_own_bridge(estate: Path) -> None:
    ok(run(estate, "prison", "--prison", "P", "--broker-host", "10.0.0.9"))
    prison_ca = x509.load_pem_x509_certificate((estate / "prison" / "ca.pem").read_bytes())
    estate_root = x509.load_pem_x509_certificate((estate / "root" / "ca.pem").read_bytes())
    assert prison_ca.issuer == prison_ca.subject != estate_root.subject  # no tablet chains to it
    assert b"ENCRYPTED PRIVATE KEY" in (estate / "prison" / "ca.key").read_bytes()
    assert (estate / "prison" / "service" / "signing.key").stat().st_mode & 0o777 == 0o600

    acl = (estate / "prison" / "broker" / "acl").read_text().splitlines()
    assert acl[acl.index("user bridge@A") + 1:acl.index("user bridge@B")] == [
        "topic write wing/A/tablet/+/reported", "topic write wing/A/tablet/+/status",
        "topic write wing/A/uplink/#", "topic write wing/A/link",
        "topic read wing/A/prison/#", ""]
    conf = (estate / "prison" / "broker" / "mosquitto.conf").read_text()
    assert "require_certificate true" in conf and "allow_anonymous false" in conf

    directory = broker_directory()
    try:
        installed = est.install_broker(est.Estate(estate), "A", directory)
        text = installed.read_text()
        key_mode = (directory / "prison-bridge.key").stat().st_mode & 0o777
    finally:
        shutil.rmtree(directory)
    assert "address 10.0.0.9:8884" in text
    assert 'topic tablet/+/reported out 1 "" wing/A/' in text
    assert 'topic prison/# in 1 "" wing/A/' in text
    assert "cleansession false" in text
    assert key_mode == 0o600
    service = load(PrisonConfig, estate / "prison" / "service" / "prison.toml")
    assert (service.prison, service.wings, service.broker.host, service.broker.port) == (
        "P", ["A", "B"], "10.0.0.9", 8884)
    assert (estate / "wings" / "B" / "gateway" / "prison.pub").read_bytes() == (
        estate / "prison" / "service" / "signing.pub").read_bytes()


def test_an_estate_has_one_prison_and_only_known_wings_join(estate: Path) -> None:
    result = run(estate, "prison", "--prison", "P", "--wing", "Z")
    assert result.exit_code != 0 and "unknown wing 'Z'" in result.output
    ok(run(estate, "prison", "--prison", "P", "--wing", "A"))
    assert not (estate / "wings" / "B" / "broker" / "prison-bridge.json").exists()
    result = run(estate, "prison", "--prison", "Q")
    assert result.exit_code != 0 and "already has a prison" in result.output


def test_the_prison_console_gets_a_server_certificate_from_the_prison_ca(estate: Path) -> None:
    ok(run(estate, "prison", "--prison", "P", "--broker-host", "10.0.0.9", "--san",
           "prison.example"))
    service = estate / "prison" / "service"
    chain = x509.load_pem_x509_certificates((service / "console.pem").read_bytes())
    prison_ca = x509.load_pem_x509_certificate((estate / "prison" / "ca.pem").read_bytes())
    leaf = chain[0]
    assert leaf.issuer == prison_ca.subject and chain[1] == prison_ca
    leaf.verify_directly_issued_by(prison_ca)
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "prison.example" in names.get_values_for_type(x509.DNSName)
    usage = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert x509.oid.ExtendedKeyUsageOID.SERVER_AUTH in usage
    assert (service / "console.key").stat().st_mode & 0o777 == 0o600
    config = load(PrisonConfig, service / "prison.toml")
    assert config.console is not None
    assert config.console.cert == Path("/etc/cellbridge/prison/console.pem")
    assert config.console.port == 9443
