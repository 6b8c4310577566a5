"""`[web]` in the gateway's configuration: the wing's web proxy (DESIGN §8). Absent: no proxy."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field

from common.config import Settings


class WebProxyConfig(Settings):
    host: str = "0.0.0.0"
    port: Annotated[int, Field(ge=0, le=65535)] = 3129
    """Where tablets' forwarders connect, over TLS with their client certificate."""
    cert: Path
    key: Path
    """The gateway's server certificate for that listener (from the wing CA)."""
    ca: Path
    """The wing CA chain that issues tablets' certificates."""
    crl: Path | None = None
    """The wing's CRL (`provision revoke` updates it): re-read when it changes."""
    squid_dir: Path | None = None
    """Squid's working directory (config, logs, the helper's socket); must be reachable by the
    user Squid runs as (`proxy` when the gateway runs as root). Default: STATE_DIR/squid."""
    squid: Path = Path("/usr/sbin/squid")
    squid_port: Annotated[int, Field(ge=0, le=65535)] = 0
    """Squid's loopback port (behind the TLS front); 0: a free one at start."""
    hosts_file: Path | None = None
    """Squid's hosts file (names it resolves without DNS: local test origins)."""
    helper_python: Path = Path("/usr/bin/python3")
    """The interpreter Squid runs the decision helper with (standard library only)."""
    recheck_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    """Open tunnels are re-decided this often: a lock, curfew, lockdown or expiry cuts them
    within this bound (and at once when the gateway is told of the change)."""
    log_retention_days: Annotated[int, Field(ge=1, le=3650)] = 90
    helper_children: Annotated[int, Field(ge=1, le=64)] = 4
