"""The `web_wing` fixture's parts: a gateway whose `[web]` section runs real Squid behind the TLS
front, with origins on loopback, and forwarders for its tablets."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from agent.webproxy import WebForwarder
from gateway.store import Store
from gateway.web_grant_book import GrantBook
from provisioning.demo_estate import DemoEstate
from tests.support.broker import WingBroker, free_port, wait_for_port
from tests.support.gateway import Gateway
from tests.web.support import OriginCA, Origins

RECHECK_S = 0.5
"""How often the test gateway re-decides open tunnels: a lock cuts them within this bound."""


@dataclass
class WebWing:
    gateway: Gateway
    broker: WingBroker
    estate: DemoEstate
    origins: Origins
    ca: OriginCA
    front_port: int
    squid_port: int
    squid_dir: Path

    def __post_init__(self) -> None:
        self.forwarders: list[WebForwarder] = []

    @contextlib.asynccontextmanager
    async def forwarder(self, device: str) -> AsyncIterator[int]:
        """A tablet's forwarder with its own certificate; its port."""
        tls = self.broker.tablet_tls(device)
        assert tls is not None
        forwarder = WebForwarder("127.0.0.1", self.front_port, tls)
        self.forwarders.append(forwarder)
        port = await forwarder.start()
        try:
            yield port
        finally:
            await forwarder.close()

    def refusal_of(self, host: str) -> str | None:
        """Why the gateway refused `host` to the latest forwarder (what the blocked screen says)."""
        refusal = self.forwarders[-1].refusals.get(host) if self.forwarders else None
        return refusal.reason if refusal else None

    def squid_pid(self) -> int | None:
        try:
            return int((self.squid_dir / "squid.pid").read_text().strip())
        except (OSError, ValueError):
            return None

    def wait_squid(self, timeout: float = 30.0) -> None:
        wait_for_port("127.0.0.1", self.squid_port, timeout)

    def restart_with_grant(self, device: str, site: str, lasts_s: float) -> tuple[str, float]:
        """A grant of `site` to `device` that expires `lasts_s` from now: (its id, its expiry
        as a wall-clock time). The staff CLI grants until the end of a day; a grant ending in
        seconds is written into the gateway's own grant book while it is stopped, and the
        gateway's expiry clock ends it as it ends any other."""
        self.gateway.stop()
        now = int(time.time() * 1000)
        store = Store(self.gateway.state_dir / "gateway.db")
        try:
            grant = GrantBook(store).add("tablet", device, site, "a test that expires",
                                         "officer.ames", now, now + int(lasts_s * 1000),
                                         sensitive=False)
        finally:
            store.close()
        self.gateway.start()
        self.wait_squid()
        return grant.id, grant.until / 1000

    def stop(self) -> None:
        pid = self.squid_pid()
        self.gateway.stop()
        self.gateway.close()
        if pid is not None:  # the Squid this test's gateway started, if it outlived it
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def web_section(estate: DemoEstate, front_port: int, squid_port: int, squid_dir: Path,
                hosts: Path, recheck_s: float = RECHECK_S) -> str:
    server = estate.repository_tls("127.0.0.1")
    crl = estate.estate.broker_material(estate.wing) / "crl.pem"
    values = {"host": "127.0.0.1", "port": front_port, "cert": server.cert, "key": server.key,
              "ca": server.ca, "crl": crl, "squid_dir": squid_dir, "squid_port": squid_port,
              "hosts_file": hosts, "recheck_s": recheck_s}
    lines = ["", "[web]"]
    for key, value in values.items():
        lines.append(f'{key} = {value}' if isinstance(value, int | float)
                     else f'{key} = "{value}"')
    return "\n".join(lines) + "\n"


def start_web_gateway(workdir: Path, broker: WingBroker, estate: DemoEstate,
                      tablets: list[tuple[str, str, str]], origins: Origins, ca: OriginCA,
                      squid_dir: Path) -> WebWing:
    front_port, squid_port = free_port(), free_port()
    gateway = Gateway(workdir, broker.host, broker.port, tablets=tablets,
                      tls=broker.gateway_tls())
    hosts = origins.hosts_file(squid_dir / "hosts")
    with gateway.config_path.open("a") as config:
        config.write(web_section(estate, front_port, squid_port, squid_dir, hosts))
    gateway.start()
    wing = WebWing(gateway, broker, estate, origins, ca, front_port, squid_port, squid_dir)
    deadline = time.monotonic() + 30
    wing.wait_squid(max(1.0, deadline - time.monotonic()))
    return wing
