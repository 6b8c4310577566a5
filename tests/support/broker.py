"""Tests use the same broker launcher as the demo and the benchmarks.

`WingBroker` is the wing's real broker: mosquitto with the configuration `provision wing`
generates for a demo estate (mutual TLS, identity = certificate CN, per-tablet ACL, CRL). Every
client needs an identity from it: `tablet_tls(id)` (enrolled on first use), `gateway_tls()`,
`observer_tls(n)` (extra full-access identities: two connections under one identity would throw
each other off, the broker forcing client id = CN). `WingBroker.plain(...)` is the plain-TCP,
anonymous broker, kept for benchmarks that compare against it.
"""

from __future__ import annotations

import shutil
import ssl
import tempfile
from pathlib import Path

from common.broker import Mosquitto, free_port, wait_for_port
from common.mqtt import BrokerConfig, TlsConfig, tls_context
from provisioning.demo_estate import OPERATORS, DemoEstate

__all__ = ["Mosquitto", "WingBroker", "free_port", "wait_for_port"]


def broker_directory() -> Path:
    """A fresh directory the `mosquitto` user can reach (pytest's own tmp dirs are private to
    the user running the tests, and mosquitto drops privileges before reading its files)."""
    directory = Path(tempfile.mkdtemp(prefix="cellbridge-broker-"))
    directory.chmod(0o755)
    return directory


class WingBroker(Mosquitto):
    def __init__(
        self, demo: DemoEstate | None, workdir: Path | None = None, port: int | None = None
    ) -> None:
        self.demo = demo
        self.owns_workdir = workdir is None
        workdir = workdir or broker_directory()
        port = port or free_port()
        config = demo.install_broker(workdir, port).read_text() if demo else None
        super().__init__(workdir, port, config=config)

    @classmethod
    def plain(cls, workdir: Path | None = None, port: int | None = None) -> WingBroker:
        return cls(None, workdir, port)

    @property
    def secure(self) -> bool:
        return self.demo is not None

    def tablet_tls(self, tablet_id: str) -> TlsConfig | None:
        return self.demo.tablet_tls(tablet_id) if self.demo else None

    def gateway_tls(self) -> TlsConfig | None:
        return self.demo.gateway_tls() if self.demo else None

    def observer_tls(self, number: int = 1) -> TlsConfig | None:
        return self.demo.operator_tls(OPERATORS[number - 1]) if self.demo else None

    def config(self, tls: TlsConfig | None) -> BrokerConfig:
        """A `[broker]` configuration for a client holding `tls`."""
        return BrokerConfig(host=self.host, port=self.port, tls=tls)

    @staticmethod
    def context(tls: TlsConfig | None) -> ssl.SSLContext | None:
        """An `ssl` context for aiomqtt/paho clients (None: plain TCP)."""
        return tls_context(tls) if tls else None

    def remove(self) -> None:
        """Kill the broker and remove its directory (if we made it)."""
        self.kill()
        if self.owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
