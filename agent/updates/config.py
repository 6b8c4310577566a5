"""The `[updates]` settings of the agent, and the one place an engine is assembled from them."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import Field

from common.config import Settings

if TYPE_CHECKING:  # the engine (TUF, urllib3) loads when one is built, not with the settings
    from agent.updates.engine import UpdateEngine
    from agent.updates.slots import SlotBackend
    from agent.updates.store import UpdateRecord
    from agent.updates.tufclient import TrustedNow

TUF_ROOT_FILE = Path("/etc/cellbridge/tuf/root.json")
"""Where the image installs the estate's TUF root (buildroot/scripts/lib/rootfs.sh)."""


class UpdatesConfig(Settings):
    repository_url: str
    """The wing gateway's repository, e.g. https://gateway.wing-a:8443"""
    ca_file: Path | None = None
    """CA of the gateway's HTTPS certificate (None: the system store)."""
    root_file: Path = TUF_ROOT_FILE
    """TUF root metadata baked into the image: the trust anchor for every refresh."""
    keyring: Path = Path("/etc/rauc/keyring.pem")
    """The estate release CA (FileSlots checks bundles against it; RAUC reads system.conf)."""
    compatible: str
    work_dir: Path
    not_before: int = 0
    """Unix seconds; the image's build time (an earlier trusted clock is refused)."""
    slots: Literal["rauc", "file"] = "rauc"
    file_slots_dir: Path | None = None
    boot_attempts: int = 3
    rauc_conf: Path | None = None
    """RAUC's system.conf (None: RAUC's default, /etc/rauc/system.conf)."""
    reboot_command: list[str] = Field(default=["systemctl", "reboot"], min_length=1)
    """How `RaucSlots` reboots the tablet into the slot it activated."""
    download_deadline_s: float = 3600.0
    metadata_deadline_s: float = 30.0
    health_needs_shell: bool = True
    """The post-update health check also waits for a shell watching the agent's socket."""
    health_timeout_s: float = 180.0
    """How long a trial boot may take to become healthy before it is rolled back."""


def make_slots(config: UpdatesConfig) -> SlotBackend:
    from agent.updates.slots import FileSlots, RaucSlots

    if config.slots == "file":
        if config.file_slots_dir is None:
            raise ValueError("slots = 'file' needs file_slots_dir")
        return FileSlots(config.file_slots_dir, config.keyring, config.boot_attempts)
    return RaucSlots(conf=config.rauc_conf, reboot_command=config.reboot_command)


def build_engine(
    config: UpdatesConfig,
    now: TrustedNow,
    health: Callable[[], bool],
    window_open: Callable[[], bool] = lambda: True,
    report: Callable[[UpdateRecord], None] = lambda record: None,
    slots: SlotBackend | None = None,
) -> UpdateEngine:
    from agent.updates.engine import EngineConfig, UpdateEngine
    from agent.updates.http import GatewayFetcher, make_pool
    from agent.updates.tufclient import TrustedReleases

    pool = make_pool(config.ca_file)
    releases = TrustedReleases(
        config.work_dir / "tuf",
        config.repository_url,
        Path(config.root_file).read_bytes(),
        GatewayFetcher(pool, config.metadata_deadline_s),
    )
    return UpdateEngine(
        EngineConfig(work_dir=config.work_dir, compatible=config.compatible,
                     not_before=config.not_before,
                     download_deadline_s=config.download_deadline_s),
        releases, pool, slots or make_slots(config), now, health, window_open, report,
    )


def system_now() -> datetime.datetime | None:
    """The host clock: for the gateway-side tools and tests only, never the tablet's RTC."""
    return datetime.datetime.now(datetime.UTC)
