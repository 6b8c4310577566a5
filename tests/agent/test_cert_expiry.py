"""The tablet says when its own client certificate runs out (`ReportedState.cert_not_after`):
read from the certificate file, read again when a renewal replaces it, None (never an error)
when it cannot be read."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from agent.cert_expiry import CertExpiry
from tests.support.agents import AgentProcess, Probe, TestSigner
from tests.support.broker import WingBroker
from wire.certs import cert_pem, new_key, subject_name
from wire.documents import ReportedState


def write_cert(path: Path, not_after: dt.datetime) -> int:
    key = new_key()
    name = subject_name("t1")
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_after - dt.timedelta(days=400)).not_valid_after(not_after)
            .sign(key, hashes.SHA256()))
    path.write_bytes(cert_pem(cert))
    return int(not_after.timestamp() * 1000)


def test_the_expiry_is_read_and_read_again_after_a_renewal(tmp_path: Path) -> None:
    path = tmp_path / "tablet.pem"
    first = write_cert(path, dt.datetime(2027, 3, 1, 12, tzinfo=dt.UTC))
    expiry = CertExpiry(path)
    assert expiry.not_after_ms() == first
    renewed = write_cert(path, dt.datetime(2028, 3, 1, 12, tzinfo=dt.UTC))
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 1_000_000_000))
    assert expiry.not_after_ms() == renewed


def test_an_unreadable_certificate_is_not_known_rather_than_an_error(tmp_path: Path) -> None:
    assert CertExpiry(None).not_after_ms() is None
    assert CertExpiry(tmp_path / "missing.pem").not_after_ms() is None
    (tmp_path / "junk.pem").write_text("not a certificate")
    assert CertExpiry(tmp_path / "junk.pem").not_after_ms() is None


def test_a_report_without_the_field_from_an_older_agent_is_still_read() -> None:
    old = {"device": "t1", "desired_version": 1, "lockdown_version": 0,
           "lock": {"locked": False}, "profile": "standard", "at": 1, "boot_id": "b",
           "agent_version": "0.9"}
    assert ReportedState.model_validate_json(json.dumps(old)).cert_not_after is None


def test_a_connected_agent_reports_its_certificates_expiry(
    make_agent: Callable[..., AgentProcess], signer: TestSigner, probe: Probe,
    broker: WingBroker
) -> None:
    if broker.demo is None:
        pytest.skip("a plain-TCP broker: the agent holds no client certificate")
    make_agent().start().wait_connected()
    probe.publish("tablet/t1/desired", signer.seal(signer.first("t1")))
    report = json.loads(probe.expect(
        lambda m: m.topic == "tablet/t1/reported" and json.loads(m.payload)[
            "desired_version"] == 1).payload)
    now = time.time() * 1000
    assert now < report["cert_not_after"] < now + 30 * 366 * 86_400_000
