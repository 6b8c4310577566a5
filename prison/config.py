"""The prison service's configuration file (TOML)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, StringConstraints

from common.config import Settings
from common.mqtt import BrokerConfig
from common.staff_web.config import ConsoleConfig
from prison.store import PrisonStore, open_store
from wire.topics import DEVICE_ID_PATTERN

Id = Annotated[str, StringConstraints(pattern=rf"^{DEVICE_ID_PATTERN}$")]


class PrisonConfig(Settings):
    prison: Id
    state_dir: Path
    signing_key: Path
    """Ed25519 private key (`service/signing.key` from `provision prison`): signs commands."""
    broker: BrokerConfig = BrokerConfig()
    """The prison broker, with the service's identity (`service/client.pem`)."""
    wings: list[Id] = Field(min_length=1)
    command_ttl_s: Annotated[int, Field(ge=60)] = 7 * 86400
    """How long a command stays valid: a wing cut off for longer does not apply it late."""
    postgresql: Annotated[str, StringConstraints(min_length=1, max_length=2000)] | None = None
    """A libpq connection string or URI: keep the view in PostgreSQL instead of SQLite
    (`state_dir/prison.db`). Prefer a password file (`passfile=`) to a password written here."""

    console: ConsoleConfig | None = None
    """`[console]`: serve the prison's staff web console over HTTPS (none without it)."""

    @property
    def database(self) -> Path:
        return self.state_dir / "prison.db"

    def open_store(self) -> PrisonStore:
        return open_store(self.database, self.postgresql)
