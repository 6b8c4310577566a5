"""The enrolment bundle is checked as a whole: a tablet refuses one whose parts do not match."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.enrol_request import make_request
from common.enrolment import load_bundle
from provisioning import estate as est
from tests.provisioning.conftest import WING, make_estate
from wire import certs
from wire.enrolment import BundleError
from wire.envelope import key_id, public_key_to_pem


def now() -> dt.datetime:
    """The time of the check: read when the test runs, never at import (certificates are made
    when each test's estate is, and a suite can run for longer than their back-dating)."""
    return dt.datetime.now(dt.UTC)


@pytest.fixture
def estate(tmp_path: Path) -> est.Estate:
    return make_estate(tmp_path / "estate")


def test_a_bulk_bundle_loads_into_the_tablets_identity(estate: est.Estate) -> None:
    identity = load_bundle(estate.bundles / "A", now=now())
    assert (identity.tablet_id, identity.wing, identity.cell) == ("A", WING, "cell-A")
    assert (identity.broker_host, identity.broker_port) == ("127.0.0.1", 8883)
    gateway_key = estate.gateway_signing_key(WING).public_key()
    assert identity.gateway_key_id == key_id(gateway_key)


def test_a_bulk_bundle_keeps_its_key_private(estate: est.Estate) -> None:
    assert (estate.bundles / "A" / "tablet.key").stat().st_mode & 0o777 == 0o600


def test_a_csr_bundle_pairs_with_the_key_that_never_left_the_tablet(
    estate: est.Estate, tmp_path: Path
) -> None:
    tablet = tmp_path / "tablet"
    made = make_request("C7", tablet / "tablet.key", tablet / "C7.csr", hardware_serial="SN-77")
    assert (tablet / "tablet.key").stat().st_mode & 0o777 == 0o600
    request = est.request_from_csr((tablet / "C7.csr").read_bytes(), WING, "cell-7")
    est.enrol(estate, [request], None, enrolled_by="it")
    assert not (estate.bundles / "C7" / "tablet.key").exists()
    identity = load_bundle(estate.bundles / "C7", now=now(), key_path=made.key_path)
    assert identity.tablet_id == "C7"
    assert estate.inventory.get("C7").serial == "SN-77"


def test_a_csr_bundle_without_the_tablets_key_is_refused(
    estate: est.Estate, tmp_path: Path
) -> None:
    make_request("C8", tmp_path / "k", tmp_path / "csr")
    est.enrol(
        estate,
        [est.request_from_csr((tmp_path / "csr").read_bytes(), WING, "c")],
        None,
        enrolled_by="it",
    )
    other_key = tmp_path / "other.key"
    other_key.write_bytes(certs.key_pem(certs.new_key()))
    with pytest.raises(BundleError, match="not issued for this tablet's key"):
        load_bundle(estate.bundles / "C8", now=now(), key_path=other_key)


def _alter(name: str, change) -> callable:
    def apply(bundle: Path, estate: est.Estate, tmp: Path) -> None:
        path = bundle / name
        path.write_bytes(change(path.read_bytes(), estate, tmp))

    return apply


def _swap_gateway_key(data: bytes, _e, _t) -> bytes:
    return public_key_to_pem(Ed25519PrivateKey.generate().public_key())


def _other_tablets_cert(_data: bytes, estate: est.Estate, _t) -> bytes:
    return (estate.bundles / "B" / "tablet.pem").read_bytes()


def _rehashed_manifest(bundle: Path, estate: est.Estate, tmp: Path) -> None:
    """An attacker who swaps the gateway key and recomputes the hashes: the wing CA's signature
    over the manifest no longer matches."""
    import hashlib

    (bundle / "gateway-signing.pub").write_bytes(_swap_gateway_key(b"", estate, tmp))
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"]["gateway-signing.pub"] = hashlib.sha256(
        (bundle / "gateway-signing.pub").read_bytes()
    ).hexdigest()
    (bundle / "manifest.json").write_text(
        json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    )


def _resigned_by_another_estate(bundle: Path, estate: est.Estate, tmp: Path) -> None:
    """A whole bundle forged by a look-alike estate: only a pinned root tells them apart."""
    other = make_estate(tmp / "forger", tablets=("A",))
    shutil.rmtree(bundle)
    shutil.copytree(other.bundles / "A", bundle)


def _extra_file(bundle: Path, _e, _t) -> None:
    (bundle / "autorun.sh").write_text("#!/bin/sh\n")


def _missing(name: str):
    def apply(bundle: Path, _e, _t) -> None:
        (bundle / name).unlink()

    return apply


TAMPERING = [
    (
        "gateway key swapped",
        _alter("gateway-signing.pub", _swap_gateway_key),
        "gateway-signing.pub does not match its manifest hash",
    ),
    (
        "another tablet's certificate",
        _alter("tablet.pem", _other_tablets_cert),
        "tablet.pem does not match its manifest hash",
    ),
    (
        "cell changed",
        _alter("enrolment.json", lambda d, e, t: d.replace(b"cell-A", b"cell-B")),
        "enrolment.json does not match its manifest hash",
    ),
    (
        "broker address changed",
        _alter("enrolment.json", lambda d, e, t: d.replace(b"127.0.0.1", b"10.6.6.6")),
        "enrolment.json does not match",
    ),
    (
        "CA chain replaced",
        _alter("ca.pem", lambda d, e, t: d[: len(d) // 2]),
        "ca.pem does not match its manifest hash",
    ),
    ("hashes recomputed", _rehashed_manifest, "manifest.json is not signed by the wing CA"),
    ("signature removed", _missing("manifest.sig"), "manifest.sig is missing"),
    ("part removed", _missing("gateway-signing.pub"), "gateway-signing.pub is missing"),
    (
        "manifest garbled",
        _alter("manifest.json", lambda d, e, t: b"{not json"),
        "manifest.json is malformed",
    ),
    ("unlisted file added", _extra_file, "autorun.sh is not in the manifest"),
]


@pytest.mark.parametrize(
    ("case", "tamper", "message"), TAMPERING, ids=[row[0] for row in TAMPERING]
)
def test_a_tampered_bundle_is_refused_with_a_clear_message(
    estate: est.Estate, tmp_path: Path, case, tamper, message
) -> None:
    bundle = estate.bundles / "A"
    tamper(bundle, estate, tmp_path)
    with pytest.raises(BundleError, match=message) as refused:
        load_bundle(bundle, now=now())
    assert str(refused.value).startswith(f"enrolment bundle {bundle} refused: ")
    assert "\n" not in str(refused.value)


def test_a_bundle_from_a_look_alike_estate_is_refused_when_the_root_is_pinned(
    estate: est.Estate, tmp_path: Path
) -> None:
    bundle = estate.bundles / "A"
    pinned = certs.fingerprint(estate.root_cert())
    assert load_bundle(bundle, now=now(), root_fingerprint=pinned).tablet_id == "A"
    _resigned_by_another_estate(bundle, estate, tmp_path)
    with pytest.raises(BundleError, match="root this tablet does not trust"):
        load_bundle(bundle, now=now(), root_fingerprint=pinned)


def test_an_expired_bundle_is_refused(estate: est.Estate) -> None:
    with pytest.raises(BundleError, match="not valid now"):
        load_bundle(estate.bundles / "A", now=now() + dt.timedelta(days=3 * 365))
