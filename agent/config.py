"""The agent's TOML configuration (docs/interfaces.md, "Agent")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, model_validator

from agent.jobs import check_data_dir
from agent.updates.config import UpdatesConfig
from agent.webproxy import WebConfig
from common.config import ConfigError, Settings, load
from common.enrolment import load_bundle
from common.mqtt import BrokerConfig, TlsConfig
from wire.enrolment import BundleError
from wire.topics import check_device_id


class AgentConfig(Settings):
    device_id: Annotated[str, AfterValidator(check_device_id)]
    wing: Annotated[str, AfterValidator(check_device_id)]
    state_dir: Path
    socket: Path
    """The shell's Unix socket (JSON lines, `wire.localapi`)."""
    socket_mode: int = 0o660
    gateway_keys: list[Path] = Field(default_factory=list)
    """Ed25519 public keys (PEM) whose signatures on gateway documents this tablet trusts (the
    enrolment bundle's gateway key is added to them)."""
    broker: BrokerConfig = BrokerConfig()
    session_expiry_s: Annotated[int, Field(ge=0)] = 86400
    enrolment_bundle: Path | None = None
    """The tablet's enrolment bundle (`provision enrol`): its certificate and CA chain (the
    broker's mutual TLS), the gateway's address and signing key. Checked whole at start."""
    identity_key: Path | None = None
    """The private key `agent enrol-request` made, when the bundle came from a CSR."""
    estate_root_sha256: str | None = None
    """Pin: the bundle's CA chain must end at this estate root (sha256 of its certificate)."""
    updates: UpdatesConfig | None = None
    """`[updates]`: the OS update engine (TUF + RAUC); absent, the tablet takes no updates."""
    apps_dir: Path | None = None
    """Installed apps, one folder each with its signed manifest (default `state_dir/apps`)."""
    session_idle_s: Annotated[float, Field(gt=0, le=86400)] = 600.0
    """A prisoner's session ends after this long untouched (the wing policy has no place for
    it yet)."""
    web: WebConfig | None = None
    """`[web]`: the browser's local forwarder to the wing's web proxy (agent/webproxy.py)."""
    user_data_dirs: list[Path] = Field(default_factory=list)
    """Folders of prisoners' data a remote wipe empties (agent/jobs.py): the shell's data
    folder (lesson progress, display settings, apps' data). Never the state or apps folders."""
    reboot_command: list[str] = Field(default_factory=list)
    """What a `reboot` job runs (e.g. `["systemctl", "reboot"]`); empty: reboot jobs fail."""

    @model_validator(mode="after")
    def _trusts_some_gateway(self) -> AgentConfig:
        if not self.gateway_keys and self.enrolment_bundle is None:
            raise ValueError("give gateway_keys or an enrolment_bundle: no gateway key to trust")
        if self.enrolment_bundle is not None and self.broker.tls is not None:
            raise ValueError("[broker.tls] and enrolment_bundle both name an identity: keep one")
        for folder in self.user_data_dirs:
            check_data_dir(folder, [self.state_dir, self.apps_path])
        return self

    @property
    def apps_path(self) -> Path:
        return self.apps_dir if self.apps_dir is not None else self.state_dir / "apps"

    @property
    def store_path(self) -> Path:
        return self.state_dir / "state.db"


def load_config(path: Path) -> AgentConfig:
    """Raises `common.config.ConfigError` with a one-line reason."""
    return apply_enrolment(load(AgentConfig, path))


def apply_enrolment(config: AgentConfig) -> AgentConfig:
    """With an enrolment bundle: check it whole (refusing a tampered one, or one for another
    tablet or wing) and take from it the broker's mutual TLS, the broker address (unless
    `[broker]` names host or port itself) and the gateway key. Raises ConfigError."""
    if config.enrolment_bundle is None:
        return config
    try:
        identity = load_bundle(
            config.enrolment_bundle,
            now=None,
            key_path=config.identity_key,
            root_fingerprint=config.estate_root_sha256,
        )
    except BundleError as exc:
        raise ConfigError(str(exc)) from exc
    if (identity.tablet_id, identity.wing) != (config.device_id, config.wing):
        raise ConfigError(
            f"enrolment bundle {config.enrolment_bundle} is for tablet {identity.tablet_id!r} "
            f"in wing {identity.wing!r}, not {config.device_id!r} in {config.wing!r}"
        )
    explicit = config.broker.model_fields_set
    broker = config.broker.model_copy(
        update={
            "host": config.broker.host if "host" in explicit else identity.broker_host,
            "port": config.broker.port if "port" in explicit else identity.broker_port,
            "tls": TlsConfig(ca=identity.ca_path, cert=identity.cert_path, key=identity.key_path),
        }
    )
    keys = list(dict.fromkeys([*config.gateway_keys, identity.gateway_key_path]))
    return config.model_copy(update={"broker": broker, "gateway_keys": keys})
