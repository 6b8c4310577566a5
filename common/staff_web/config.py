"""`[console]` in a service's configuration: where its staff web console listens, and its HTTPS
certificate (docs/console.md for the wing, docs/prison.md for the prison)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from common.config import Settings


class ConsoleConfig(Settings):
    """`[console]`: the staff web console on its own HTTPS port."""

    host: str = "0.0.0.0"
    port: Annotated[int, Field(ge=1, le=65535)] = 9443
    """Not 8443: that is where a wing gateway's `[repository]` serves tablets by default."""
    cert: Path
    """Server certificate chain (PEM) from the wing's or the prison's CA (`console.pem`)."""
    key: Path
    """Its private key (PEM): `console.key`."""
