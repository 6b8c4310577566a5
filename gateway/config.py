"""The wing gateway's configuration file (TOML, docs/interfaces.md "Gateway")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from common.config import Settings
from common.mqtt import BrokerConfig
from common.staff_web.config import ConsoleConfig
from gateway import DEFAULT_API_SOCKET
from gateway.repository import RepositoryConfig
from gateway.web_proxy_config import WebProxyConfig
from wire.topics import DEVICE_ID_PATTERN

WingId = Annotated[str, StringConstraints(pattern=rf"^{DEVICE_ID_PATTERN}$")]
Place = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class TabletSeed(Settings):
    """A tablet registered at start-up (the inventory a wing is built with)."""

    id: WingId
    cell: Place
    landing: Place


class PrisonLinkConfig(Settings):
    """`[prison]`: the prison this wing is bridged to, and the key its commands are signed with
    (gateway/prison_link.py)."""

    prison: WingId
    public_key: Path
    """The prison service's Ed25519 public key (`prison.pub` from `provision prison`)."""


class GatewayConfig(Settings):
    wing: WingId
    state_dir: Path
    signing_key: Path
    """Ed25519 private key, PKCS8 PEM: signs every document the tablets accept."""
    api_socket: Path = DEFAULT_API_SOCKET
    """The control API: where `cellbridge staff` looks by default."""
    api_group: str | None = "cellbridge-staff"
    """The group that may use the control API (socket mode 0660, this group). If the group does
    not exist the socket is 0600, the gateway's own account only (a warning at start)."""
    broker: BrokerConfig = BrokerConfig()
    desired_ttl_s: Annotated[int, Field(ge=2)] = 7 * 86400
    reissue_before_s: Annotated[int, Field(ge=1)] | None = None
    """Re-issue a document this long before it expires; default a quarter of `desired_ttl_s`."""
    time_beacon_s: Annotated[float, Field(gt=0)] = 30.0
    lockdown_coalesce_s: Annotated[float, Field(ge=0)] = 3.0
    """At most one birth-triggered `wing/lockdown` re-publish per this many seconds."""
    tablets: list[TabletSeed] = Field(default_factory=list)
    revoked_list: Path | None = None
    """`revoked.json` that `provision revoke` writes beside the wing's CRL: messages from a
    listed tablet are refused (its session may outlive the revocation)."""
    repository: RepositoryConfig | None = None
    """`[repository]`: serve the estate's TUF repository (OS releases) to the wing's tablets."""
    console: ConsoleConfig | None = None
    """`[console]`: serve the staff web console over HTTPS (none without it)."""
    web: WebProxyConfig | None = None
    """`[web]`: run the wing's web proxy (Squid behind a TLS front; docs/content-control.md)."""
    prison: PrisonLinkConfig | None = None
    """`[prison]`: take signed commands from the prison and send the audit trail up."""
    prisoner_retention_days: Annotated[int, Field(ge=1, le=36500)] = 365
    """How long a released or transferred person's record is kept before it is deleted."""
    audit_keep_days: Annotated[int, Field(ge=1, le=36500)] | None = None
    """Audit entries (and answered requests) older than this are archived daily behind a
    checkpoint (`gateway.retention`); None: only by `cellbridge gateway compact`."""

    @model_validator(mode="after")
    def _listeners_apart(self) -> GatewayConfig:
        """Two of the gateway's listeners on one port would fail at start with a bind error
        naming neither: say which, when the config is read."""
        ports: dict[int, str] = {}
        for name, part in (("console", self.console), ("repository", self.repository),
                           ("web", self.web)):
            port = getattr(part, "port", 0)
            if not port:
                continue
            if port in ports:
                raise ValueError(f"[{ports[port]}] and [{name}] are both on port {port}")
            ports[port] = name
        return self

    @property
    def reissue_margin_s(self) -> int:
        if self.reissue_before_s is not None:
            return min(self.reissue_before_s, self.desired_ttl_s - 1)
        return max(1, self.desired_ttl_s // 4)

    @property
    def database(self) -> Path:
        return self.state_dir / "gateway.db"
