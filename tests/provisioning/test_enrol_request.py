"""`agent enrol-request`: the tablet makes its own key and a CSR; IT signs it; the key stays."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from click.testing import CliRunner

from agent.enrol_request import enrol_request
from common.enrolment import load_bundle
from provisioning import estate as est
from tests.provisioning.conftest import WING, make_estate


def test_the_tablets_own_key_and_the_signed_bundle_make_an_identity(tmp_path: Path) -> None:
    estate = make_estate(tmp_path / "estate")
    key, csr = tmp_path / "tablet" / "tablet.key", tmp_path / "R1.csr"
    args = ["--device-id", "R1", "--key", str(key), "--out", str(csr), "--serial", "SN-R1"]
    result = CliRunner().invoke(enrol_request, args)
    assert result.exit_code == 0, result.output
    assert key.stat().st_mode & 0o777 == 0o600 and "PRIVATE" not in result.output
    est.enrol(
        estate, [est.request_from_csr(csr.read_bytes(), WING, "3-01")], None, enrolled_by="it"
    )
    identity = load_bundle(estate.bundles / "R1", now=dt.datetime.now(dt.UTC), key_path=key)
    assert (identity.tablet_id, identity.key_path) == ("R1", key)


def test_asking_again_keeps_the_key(tmp_path: Path) -> None:
    key = tmp_path / "tablet.key"
    args = ["--device-id", "R2", "--key", str(key), "--out", str(tmp_path / "a.csr")]
    CliRunner().invoke(enrol_request, args)
    first = key.read_bytes()
    result = CliRunner().invoke(enrol_request, args)
    assert "existing key kept" in result.output and key.read_bytes() == first


def test_an_invalid_device_id_is_refused_in_one_line(tmp_path: Path) -> None:
    args = ["--device-id", "a/b", "--key", str(tmp_path / "k"), "--out", str(tmp_path / "c")]
    result = CliRunner().invoke(enrol_request, args)
    assert result.exit_code == 1 and "invalid tablet id" in result.stderr
    assert not (tmp_path / "k").exists()


def test_a_key_path_that_cannot_be_written_says_to_give_one_that_can(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    args = ["--device-id", "R3", "--key", str(blocker / "tablet.key"),
            "--out", str(tmp_path / "R3.csr")]
    result = CliRunner().invoke(enrol_request, args)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {blocker}: ")
    assert result.stderr.endswith(": give --key FILE where you can write (the default is the "
                                  "tablet's own identity directory), e.g. --key ./tablet.key\n")
    assert not (tmp_path / "R3.csr").exists()
