"""A prison on one machine for tests: one estate with wings A, B, C, a real mosquitto per wing
(the configuration `provision wing` + `provision prison` generate, bridge included), a real
prison broker, each wing's bridge dialling through its own `Relay` (so one link can be cut), and
in one event loop the prison service, each wing's gateway and the tablets' agents."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path

from agent.config import AgentConfig, apply_enrolment
from agent.service import Agent
from cellbridge.fleet import fleet, wait_until
from common.broker import Mosquitto, free_port
from common.mqtt import BrokerConfig, TlsConfig
from common.staff_web.config import ConsoleConfig
from gateway.config import GatewayConfig, PrisonLinkConfig, TabletSeed
from gateway.service import GatewayService
from prison.cli import run_with_console
from prison.config import PrisonConfig
from prison.service import PrisonService
from provisioning import prison as prison_pki
from provisioning.demo_estate import DemoEstate
from provisioning.estate import Estate
from tests.prison.relay import Relay
from tests.support.broker import broker_directory

PRISON = "P"
REPO_ROOT = Path(__file__).resolve().parents[2]


def tablet_ids(wing: str, count: int) -> list[str]:
    return [f"{wing}-{i:02d}" for i in range(1, count + 1)]


class PrisonRig:
    def __init__(self, root: Path, wings: dict[str, int], *, relayed: bool = True) -> None:
        """`relayed=False`: each bridge dials the prison broker directly (no cutting; for
        benchmarks, without the relay's extra hop)."""
        self.root = root
        self.wings = sorted(wings)
        self.tablets = {w: tablet_ids(w, n) for w, n in wings.items()}
        estate_root = root / "estate"
        self.demos = {w: DemoEstate(estate_root, wing=w) for w in self.wings}
        for wing, ids in self.tablets.items():
            self.demos[wing].enrol(ids)
        self.estate = Estate(estate_root)
        self.prison_port = free_port()
        self.relays = ({w: Relay("127.0.0.1", self.prison_port) for w in self.wings}
                       if relayed else {})
        prison_pki.create_prison(
            self.estate, PRISON, None, broker_port=self.prison_port,
            bridge_addresses={w: (r.host, r.port) for w, r in self.relays.items()} if relayed
            else dict.fromkeys(self.wings, ("127.0.0.1", self.prison_port)),
            bridge_restart_cap_s=2)
        self.material = prison_pki.prison_dir(self.estate)
        self.brokers: dict[str, Mosquitto] = {}
        self.prison_broker: Mosquitto | None = None
        self.gateways: dict[str, GatewayService] = {}
        self.service: PrisonService | None = None
        self.service_task: asyncio.Task[None] | None = None
        self.postgresql: str | None = None
        """The prison store's PostgreSQL DSN (None: SQLite under the state directory)."""
        self.console: ConsoleConfig | None = None
        """The prison console, served by the service when set (`prison.cli.run_with_console`)."""

    # -- brokers ---------------------------------------------------------------------------

    def start_brokers(self) -> None:
        directory = broker_directory()
        conf = prison_pki.install_broker(self.estate, directory, self.prison_port)
        self.prison_broker = Mosquitto(directory, self.prison_port,
                                       config=conf.read_text()).start()
        for wing in self.wings:
            self.brokers[wing] = self.demos[wing].start_broker(broker_directory())

    def stop_brokers(self) -> None:
        for name, broker in [*self.brokers.items(), ("prison", self.prison_broker)]:
            if broker is not None:
                broker.kill()
                with contextlib.suppress(OSError):  # kept beside the test's files
                    shutil.copy(broker.log_path, self.root / f"broker-{name}.log")
                shutil.rmtree(broker.workdir, ignore_errors=True)
        for relay in self.relays.values():
            relay.close()

    # -- identities --------------------------------------------------------------------------

    def service_tls(self) -> TlsConfig:
        d = self.material / "service"
        return TlsConfig(ca=d / "ca.pem", cert=d / "client.pem", key=d / "client.key")

    def bridge_tls(self, wing: str) -> TlsConfig:
        """The bridge's own identity, as a wing host holds it (to act as a rogue wing)."""
        d = self.estate.broker_material(wing)
        return TlsConfig(ca=d / "prison-ca.pem", cert=d / "prison-bridge.pem",
                         key=d / "prison-bridge.key")

    def prison_address(self, tls: TlsConfig) -> BrokerConfig:
        return BrokerConfig(host="127.0.0.1", port=self.prison_port, tls=tls, backoff_max_s=1.0)

    def service_config(self) -> PrisonConfig:
        return PrisonConfig(prison=PRISON, state_dir=self.root / "prison",
                            signing_key=self.material / "service" / "signing.key",
                            broker=self.prison_address(self.service_tls()), wings=self.wings,
                            postgresql=self.postgresql, console=self.console)

    def config_file(self) -> Path:
        import tomli_w

        path = self.root / "prison.toml"
        path.write_text(tomli_w.dumps(self.service_config().model_dump(mode="json",
                                                                     exclude_none=True)))
        return path

    def gateway_config(self, wing: str) -> GatewayConfig:
        broker = self.brokers[wing]
        demo = self.demos[wing]
        return GatewayConfig(
            wing=wing, state_dir=self.root / wing / "gateway", signing_key=demo.gateway_signing_key,
            api_socket=self.root / wing / "gw.sock",
            broker=BrokerConfig(host=broker.host, port=broker.port, tls=demo.gateway_tls(),
                                backoff_max_s=1.0),
            tablets=[TabletSeed(id=t, cell=t, landing="1") for t in self.tablets[wing]],
            prison=PrisonLinkConfig(prison=PRISON, public_key=self.estate.gateway_material(wing)
                                    / prison_pki.PRISON_PUBLIC_KEY),
            lockdown_coalesce_s=0.2,
        )

    def agent_config(self, wing: str, tablet: str, *, resolved: bool = True) -> AgentConfig:
        """`resolved`: with the enrolment bundle applied, for an in-process `Agent`; otherwise as
        a configuration file says it (for agents in another process, which apply it there)."""
        broker = self.brokers[wing]
        directory = self.root / wing / "tablets" / tablet
        config = AgentConfig.model_validate({
            "device_id": tablet, "wing": wing, "state_dir": directory / "state",
            "socket": Path(f"/tmp/cb-pr-{os.getpid()}-{id(self) & 0xFFFF:x}-{tablet}.sock"),
            "broker": BrokerConfig(host=broker.host, port=broker.port, backoff_max_s=1.0),
            "enrolment_bundle": self.demos[wing].bundle(tablet),
        })
        return apply_enrolment(config) if resolved else config

    async def cli(self, *args: str) -> tuple[int, str]:
        """`cellbridge prison ARGS --config …` in a child process: (exit code, output)."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "cellbridge", "prison", *args, "--config",
            str(self.config_file()), stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
        out, _ = await asyncio.wait_for(process.communicate(), 60)
        assert process.returncode is not None
        return process.returncode, out.decode()

    # -- running -----------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self, connect_timeout_s: float = 30,
                      tablets: Callable[[list[AgentConfig]], AbstractAsyncContextManager[object]]
                      | None = None) -> AsyncIterator[dict[str, list[Agent]]]:
        """The prison service, every gateway and every tablet, until the block ends.
        `tablets`: runs the tablets elsewhere (given their unresolved configurations; ready when
        its block starts) instead of as `Agent`s in this process, which then yields none."""
        self.service = PrisonService(self.service_config())
        self.gateways = {w: GatewayService(self.gateway_config(w)) for w in self.wings}
        self.service_task = asyncio.create_task(run_with_console(self.service))
        tasks = [self.service_task]
        tasks += [asyncio.create_task(g.run()) for g in self.gateways.values()]
        try:
            async with contextlib.AsyncExitStack() as stack:
                if tablets is not None:
                    await stack.enter_async_context(tablets([
                        self.agent_config(w, t, resolved=False)
                        for w in self.wings for t in self.tablets[w]]))
                    yield {}
                    return
                by_wing = {w: await stack.enter_async_context(fleet(  # each wing its own key
                    [self.agent_config(w, t) for t in self.tablets[w]])) for w in self.wings}
                agents = [a for wing in by_wing.values() for a in wing]
                await wait_until(lambda: all(a.connected for a in agents), connect_timeout_s)
                yield by_wing
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.service.close()
            for gateway in self.gateways.values():
                gateway.close()

    async def wait_link(self, wing: str, up: bool, timeout: float = 20) -> None:
        assert self.service is not None
        store = self.service.store

        def state() -> bool:
            link = store.link(wing)
            return link is not None and link.up == up

        await wait_until(state, timeout)
