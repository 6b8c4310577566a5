"""The agent's TOML configuration (docs/interfaces.md, "Agent")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field

from cellbridge.config import Settings, load
from cellbridge.mqtt import BrokerConfig
from wire.topics import check_device_id


class AgentConfig(Settings):
    device_id: Annotated[str, AfterValidator(check_device_id)]
    wing: Annotated[str, AfterValidator(check_device_id)]
    state_dir: Path
    socket: Path
    """The shell's Unix socket (JSON lines, `wire.localapi`)."""
    socket_mode: int = 0o660
    gateway_keys: list[Path] = Field(min_length=1)
    """Ed25519 public keys (PEM) whose signatures on gateway documents this tablet trusts."""
    broker: BrokerConfig = BrokerConfig()
    session_expiry_s: Annotated[int, Field(ge=0)] = 86400
    apps_dir: Path | None = None
    """Installed apps, one folder each with its signed manifest (default `state_dir/apps`)."""

    @property
    def apps_path(self) -> Path:
        return self.apps_dir if self.apps_dir is not None else self.state_dir / "apps"

    @property
    def store_path(self) -> Path:
        return self.state_dir / "state.db"


def load_config(path: Path) -> AgentConfig:
    """Raises `cellbridge.config.ConfigError` with a one-line reason."""
    return load(AgentConfig, path)
