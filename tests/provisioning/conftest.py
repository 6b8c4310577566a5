"""A demo estate (unencrypted demo keys) with one wing and two bulk-enrolled tablets, and its
broker: the real mosquitto with the configuration `provision wing` generated."""

from __future__ import annotations

import hashlib
import shutil
import ssl
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from common.broker import Mosquitto, free_port
from common.mqtt import TlsConfig, tls_context
from provisioning import estate as est

WING = "w1"


@dataclass
class Wing:
    estate: est.Estate
    broker: Mosquitto
    broker_dir: Path

    def tablet_tls(self, tablet_id: str) -> TlsConfig:
        bundle = self.estate.bundles / tablet_id
        return TlsConfig(
            ca=bundle / "ca.pem", cert=bundle / "tablet.pem", key=bundle / "tablet.key"
        )

    def tablet_context(self, tablet_id: str) -> ssl.SSLContext:
        return tls_context(self.tablet_tls(tablet_id))

    def gateway_context(self) -> ssl.SSLContext:
        material = self.estate.gateway_material(WING)
        return tls_context(
            TlsConfig(
                ca=material / "ca.pem", cert=material / "client.pem", key=material / "client.key"
            )
        )


def make_estate(root: Path, tablets: tuple[str, ...] = ("A", "B")) -> est.Estate:
    estate = est.init_estate(root, "Test estate", None)
    est.create_wing(estate, WING, None, broker_host="127.0.0.1")
    est.enrol(
        estate,
        [est.EnrolRequest(t, WING, f"cell-{t}") for t in tablets],
        None,
        enrolled_by="tester",
    )
    return estate


@pytest.fixture
def broker_dir() -> Iterator[Path]:
    """A directory the `mosquitto` user can reach (pytest's tmp dirs are private to root, and
    mosquitto drops privileges before reading its certificates)."""
    directory = Path(tempfile.mkdtemp(prefix="cellbridge-broker-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def wing(tmp_path: Path, broker_dir: Path) -> Iterator[Wing]:
    estate = make_estate(tmp_path / "estate")
    port = free_port()
    conf = est.install_broker(estate, WING, broker_dir, port)
    broker = Mosquitto(broker_dir, port, config=conf.read_text()).start()
    try:
        yield Wing(estate, broker, broker_dir)
    finally:
        broker.kill()


def tree_digest(root: Path) -> str:
    """Names, modes and contents of every file under `root`: equal digests, unchanged estate."""
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        digest.update(str(path.relative_to(root)).encode() + oct(path.stat().st_mode).encode())
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()
