"""A whole wing on one machine — the demo's and the benchmarks' embedded defaults: a demo estate
(generated PKI, insecure demo keys), the wing's broker, the gateway's configuration with every
tablet registered, and each tablet's agent configuration from its enrolment bundle.

On real hardware the same files come from `cellbridge provision` and the tablet image instead.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import tomli_w

from agent.config import AgentConfig, apply_enrolment
from agent.updates.config import UpdatesConfig
from agent.webproxy import WebConfig
from common.broker import Mosquitto
from common.mqtt import BrokerConfig
from gateway.config import ConsoleConfig, GatewayConfig, TabletSeed
from gateway.repository import RepositoryConfig
from gateway.web_proxy_config import WebProxyConfig
from provisioning.demo_estate import DemoEstate
from provisioning.estate import EstateError
from provisioning.mosquitto_conf import REVOKED_FILE

CELLS_PER_LANDING = 20
_SOCKET_PATH_MAX = 100  # AF_UNIX paths are limited to 108 bytes


def tablet_ids(count: int) -> list[str]:
    return [f"T-{index:04d}" for index in range(1, count + 1)]


def place(tablet_id: str) -> tuple[str, str]:
    """The (cell, landing) of a demo tablet: twenty cells to a landing."""
    index = int(tablet_id.rsplit("-", 1)[1]) - 1
    landing = str(index // CELLS_PER_LANDING + 1)
    return f"{landing}-{index % CELLS_PER_LANDING + 1:02d}", landing


def write_toml(path: Path, settings: AgentConfig | GatewayConfig) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = settings.model_dump(mode="json", exclude_none=True)
    path.write_text(tomli_w.dumps(data))
    return path


def socket_path(preferred: Path) -> Path:
    """`preferred`, or, when it would be too long to bind, a short path in the temporary folder
    named by its hash: the same for every call, so whoever asks again (the shell, `demo
    request`, a wait for the agent) finds the socket the agent was told."""
    if len(str(preferred)) <= _SOCKET_PATH_MAX:
        return preferred
    digest = hashlib.sha256(str(preferred.absolute()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"cb-{digest}.sock"


class LocalWing:
    """Wing `wing` under `root`, with tablets T-0001…T-NNNN; `tls=False` for plain TCP.
    `estate`: an estate made before (the boot test's, baked into its image) instead of a new
    demo estate under `root`; `broker_port`: a fixed port for the broker (default: a free one)."""

    def __init__(
        self,
        root: Path,
        tablets: int,
        *,
        wing: str = "A",
        tls: bool = True,
        state_root: Path | None = None,
        estate: DemoEstate | None = None,
        broker_port: int | None = None,
    ) -> None:
        self.root = root.resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.wing = wing
        self.tls = tls
        self.tablets = tablet_ids(tablets)
        self.state_root = (state_root or self.root / "tablets").resolve()
        self.estate = estate or DemoEstate(self.root / "estate", wing=wing)
        self.broker_port = broker_port
        self.estate.enrol(self.tablets)
        self.broker: Mosquitto | None = None
        self._temporary_broker_dir: Path | None = None
        self.gateway: subprocess.Popen[bytes] | None = None
        self.repository: RepositoryConfig | None = None
        """The gateway's `[repository]` (set before `start_gateway`): it serves app releases."""
        self.console: ConsoleConfig | None = None
        """The gateway's `[console]` (set before `start_gateway`): the staff web console."""
        self.updates: dict[str, UpdatesConfig] = {}
        """The `[updates]` of the tablets that take releases (the others take none)."""
        self.web: WebProxyConfig | None = None
        """The gateway's `[web]` (set before `start_gateway`): the wing's web proxy."""
        self.web_forwarders: dict[str, WebConfig] = {}
        """The `[web]` of the tablets that run a browser forwarder (the others run none)."""

    def start_broker(self) -> Mosquitto:
        directory = self.root / "broker"
        if self.tls:
            # mosquitto drops privileges before reading its files: its directory must be
            # reachable by its own user, which a private parent (a test's tmp dir) is not.
            directory.mkdir(parents=True, exist_ok=True)
            directory.chmod(0o755)
            try:
                self.broker = self.estate.start_broker(directory, self.broker_port)
            except EstateError:
                self.broker = self.estate.start_broker(port=self.broker_port)
                self._temporary_broker_dir = self.broker.workdir
        else:
            self.broker = Mosquitto(directory, self.broker_port).start()
        return self.broker

    def broker_config(self, tablet_id: str | None) -> BrokerConfig:
        """How the gateway (`tablet_id` None) or a tablet reaches this wing's broker: a tablet
        takes its TLS identity from its enrolment bundle (`agent_config`)."""
        if self.broker is None:
            raise RuntimeError("start the broker first")
        tls = self.estate.gateway_tls() if self.tls and tablet_id is None else None
        return BrokerConfig(host=self.broker.host, port=self.broker.port, tls=tls,
                            backoff_max_s=5.0)

    @property
    def gateway_api(self) -> Path:
        return socket_path(self.root / "gateway" / "api.sock")

    def gateway_config(self) -> Path:
        """Write the gateway's configuration (every tablet registered) and return its path."""
        config = GatewayConfig(
            wing=self.wing,
            state_dir=self.root / "gateway" / "state",
            signing_key=self.estate.gateway_signing_key,
            api_socket=self.gateway_api,
            broker=self.broker_config(None),
            revoked_list=self.revoked_list,
            repository=self.repository,
            console=self.console,
            web=self.web,
            tablets=[
                TabletSeed(id=t, cell=place(t)[0], landing=place(t)[1]) for t in self.tablets
            ],
        )
        return write_toml(self.root / "gateway" / "gateway.toml", config)

    @property
    def revoked_list(self) -> Path | None:
        """The revoked tablets `provision revoke` lists beside the broker's CRL."""
        if not self.tls or self.broker is None:
            return None
        return self.broker.workdir / REVOKED_FILE

    def agent_config(self, tablet_id: str, *, resolved: bool = True) -> AgentConfig:
        """A tablet's agent: its identity and the gateway's key from its enrolment bundle (as on
        a tablet), the broker's address from this machine (its port is chosen at start).
        `resolved`: with the bundle checked and applied, ready for an in-process `Agent`;
        otherwise as its configuration file says it."""
        directory = self.state_root / tablet_id
        if self.tls:
            trust: dict[str, object] = {"enrolment_bundle": self.estate.bundle(tablet_id)}
        else:
            trust = {"gateway_keys": [self.estate.gateway_public_key]}
        config = AgentConfig.model_validate({
            "device_id": tablet_id,
            "wing": self.wing,
            "state_dir": directory / "state",
            "socket": socket_path(directory / "agent.sock"),
            "broker": self.broker_config(tablet_id),
            "updates": self.updates.get(tablet_id),
            "web": self.web_forwarders.get(tablet_id),
            **trust,
        })
        return apply_enrolment(config) if resolved else config

    def write_agent_config(self, tablet_id: str) -> Path:
        config = self.agent_config(tablet_id, resolved=False)
        return write_toml(self.state_root / tablet_id / "agent.toml", config)

    def start_gateway(self, timeout: float = 30.0) -> subprocess.Popen[bytes]:
        """Start `cellbridge gateway run` for this wing; return once it has its broker session."""
        config = self.gateway_config()
        log = open(self.root / "gateway" / "gateway.log", "ab")  # noqa: SIM115 - child's stderr
        self.gateway = subprocess.Popen(
            [sys.executable, "-m", "cellbridge", "gateway", "run", "--config", str(config)],
            stdout=log, stderr=log, start_new_session=True,  # stopped by `stop()`, not Ctrl-C
        )
        log.close()
        transport = httpx.HTTPTransport(uds=str(self.gateway_api))
        deadline = time.monotonic() + timeout
        with httpx.Client(transport=transport, base_url="http://gateway", timeout=2) as api:
            while time.monotonic() < deadline:
                if self.gateway.poll() is not None:
                    raise RuntimeError(f"gateway exited: see {self.root / 'gateway/gateway.log'}")
                try:
                    if api.get("/v1/health").json().get("broker_connected"):
                        return self.gateway
                except (httpx.HTTPError, ValueError):
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"gateway not ready in {timeout}s: see {self.root / 'gateway'}")

    def stop(self) -> None:
        if self.gateway is not None:
            self.gateway.terminate()
            try:
                self.gateway.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.gateway.kill()
                self.gateway.wait()
            self.gateway = None
        if self.broker is not None:
            self.broker.stop()
            self.broker = None
        if self._temporary_broker_dir is not None:
            shutil.rmtree(self._temporary_broker_dir, ignore_errors=True)
            self._temporary_broker_dir = None
