"""A ready-made estate for the demo, the tests and the benchmarks: unencrypted demo keys, one
wing on loopback, tablets enrolled (bulk mode) the first time they are asked for.

Never for a real estate: its CA keys sit unencrypted on disk.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from common.broker import Mosquitto, free_port
from common.enrolment import Identity, load_bundle
from common.mqtt import BrokerConfig, TlsConfig
from provisioning import estate as est
from provisioning import pki
from provisioning.files import PRIVATE, write_atomic
from wire import certs

OPERATORS = ("observer-1", "observer-2", "observer-3", "observer-4")
"""Full-access identities besides the gateway, for test observers and bench collectors."""


class DemoEstate:
    def __init__(self, root: Path, wing: str = "w1", broker_host: str = "127.0.0.1") -> None:
        self.root = root
        self.wing = wing
        self.estate = est.Estate(root)
        if not (root / est.META).exists():
            est.init_estate(root, "Cellbridge demo estate", None)
        if wing not in self.estate.wings():
            est.create_wing(self.estate, wing, None, broker_host=broker_host)
            for name in OPERATORS:
                est.add_operator(self.estate, wing, name, None)

    def install_broker(self, directory: Path, port: int) -> Path:
        """A runnable broker directory for this wing; returns its mosquitto.conf."""
        return est.install_broker(self.estate, self.wing, directory, port)

    def start_broker(self, directory: Path | None = None, port: int | None = None) -> Mosquitto:
        """Start mosquitto with this wing's generated configuration (mutual TLS, ACL, CRL).
        Without `directory`, a fresh one under the system temp dir: mosquitto drops privileges
        before reading its files, so it must reach them (a private tmp dir would not do); the
        caller removes it (`Mosquitto.workdir`) after stopping the broker."""
        if directory is None:
            directory = Path(tempfile.mkdtemp(prefix="cellbridge-broker-"))
            directory.chmod(0o755)
        port = port or free_port()
        conf = self.install_broker(directory, port)
        return Mosquitto(directory, port, config=conf.read_text()).start()

    def enrol(self, tablet_ids: list[str], cell: str = "demo") -> None:
        """Enrol (bulk mode) those of `tablet_ids` not enrolled yet, in one batch."""
        known = {t.tablet_id for t in self.estate.inventory.existing(tablet_ids)}
        todo = [
            est.EnrolRequest(t, self.wing, cell)
            for t in dict.fromkeys(tablet_ids)
            if t not in known
        ]
        if todo:
            est.enrol(self.estate, todo, None, enrolled_by="demo")

    def bundle(self, tablet_id: str) -> Path:
        self.enrol([tablet_id])
        return self.estate.bundles / tablet_id

    def identity(self, tablet_id: str) -> Identity:
        return load_bundle(self.bundle(tablet_id), now=dt.datetime.now(dt.UTC))

    def tablet_tls(self, tablet_id: str) -> TlsConfig:
        bundle = self.bundle(tablet_id)
        return TlsConfig(
            ca=bundle / "ca.pem", cert=bundle / "tablet.pem", key=bundle / "tablet.key"
        )

    def gateway_tls(self) -> TlsConfig:
        material = self.estate.gateway_material(self.wing)
        return TlsConfig(
            ca=material / "ca.pem", cert=material / "client.pem", key=material / "client.key"
        )

    def operator_tls(self, name: str = OPERATORS[0]) -> TlsConfig:
        directory = self.estate.wing_dir(self.wing) / "operators" / name
        return TlsConfig(
            ca=directory / "ca.pem", cert=directory / "client.pem", key=directory / "client.key"
        )

    def repository_tls(self, host: str = "127.0.0.1") -> TlsConfig:
        """The HTTPS identity of the wing gateway's release repository: a server certificate
        for `host` from the wing CA (issued once), so tablets verify it with the CA chain of
        their enrolment bundle, as they verify the broker."""
        directory = self.estate.wing_dir(self.wing) / "repository"
        tls = TlsConfig(ca=self.estate.gateway_material(self.wing) / "ca.pem",
                        cert=directory / "server.pem", key=directory / "server.key")
        if not tls.cert.is_file() or not tls.key.is_file():
            ca_cert, ca_key = self.estate.wing_ca(self.wing, None)
            key = certs.new_key()
            cert = pki.issue_leaf(ca_cert, ca_key, key.public_key(), f"repository.{self.wing}",
                                  dt.datetime.now(dt.UTC), server_names=[host],
                                  days=pki.SERVICE_DAYS)
            write_atomic(tls.key, certs.key_pem(key), PRIVATE)
            write_atomic(tls.cert, certs.cert_pem(cert, ca_cert))
        return tls

    @property
    def gateway_signing_key(self) -> Path:
        return self.estate.gateway_material(self.wing) / "signing.key"

    @property
    def gateway_public_key(self) -> Path:
        return self.estate.gateway_material(self.wing) / "signing.pub"

    def broker_config(self, tls: TlsConfig, host: str, port: int) -> BrokerConfig:
        return BrokerConfig(host=host, port=port, tls=tls)
