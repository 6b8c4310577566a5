"""What IT writes onto an enrolled tablet's data partition before its first boot: the
`enrolment/` folder the image's units wait for (`cellbridge provision tablet-data`).

The tablet image starts the agent and the shell only once `enrolment/agent.toml` exists, and its
firewall opens to the wing gateway only as `enrolment/network.env` names it; until then the
tablet shows "ask IT to enrol this tablet". This module renders both from the wing's facts and
the tablet's enrolment bundle, so neither is written by hand. Rendering is pure
(`agent_config`, `network_env`); `write_tablet_data` is the thin writer.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import tomli_w

from common.enrolment import load_bundle
from common.files import PRIVATE, PUBLIC, write_atomic
from provisioning.estate import Estate, EstateError
from provisioning.files import staged_directory
from provisioning.inventory import Status
from wire.certs import fingerprint
from wire.enrolment import KEY, MANIFEST, REQUIRED, SIGNATURE, BundleError

DATA_MOUNT = PurePosixPath("/var/lib/cellbridge")
"""Where the image mounts the data partition (buildroot/README.md, "Disk and data layout")."""
RUNTIME_DIR = PurePosixPath("/run/cellbridge")
"""`2750 root:cellbridge-shell`, made by the image: the agent's socket lives here."""
TUF_ROOT = PurePosixPath("/etc/cellbridge/tuf/root.json")
"""The estate's TUF root a release image carries (`make image TUF_ROOT=…`)."""
RAUC_KEYRING = PurePosixPath("/etc/rauc/keyring.pem")
BOARDS = {"rpi4": "cellbridge-rpi4", "qemu-aarch64": "cellbridge-qemu-aarch64"}
"""Each board of `buildroot/` and the RAUC compatible its image is built with."""
BUNDLE_FILES = REQUIRED | {MANIFEST, SIGNATURE}


class TabletDataError(Exception):
    """The tablet's data folder cannot be made as asked; one line saying why."""


@dataclass(frozen=True, slots=True)
class TabletPlan:
    """Everything the two files say, checked: `check_plan` makes one."""

    tablet_id: str
    wing: str
    gateway_addr: str
    """The wing gateway's IPv4 address: the firewall opens to this address only."""
    broker_port: int
    repository_port: int
    compatible: str | None
    """The image's RAUC compatible, or None: this tablet takes no updates (an image without
    a TUF root cannot check any)."""
    root_sha256: str
    """The estate root's fingerprint: the agent refuses a bundle that does not chain to it."""
    broker_host_override: bool
    """The bundle names the broker by another name or address than `gateway_addr`."""
    key_in_bundle: bool
    """Bulk enrolment: the tablet's key was made by IT and travels in the bundle."""
    data_mount: PurePosixPath = DATA_MOUNT
    runtime_dir: PurePosixPath = RUNTIME_DIR

    @property
    def enrolment(self) -> PurePosixPath:
        return self.data_mount / "enrolment"

    @property
    def ports(self) -> tuple[int, ...]:
        """The gateway's TCP ports the tablet may reach: its broker and, with updates, its
        repository (apps and OS releases)."""
        wanted = [self.broker_port] + ([self.repository_port] if self.compatible else [])
        return tuple(dict.fromkeys(wanted))


def check_plan(
    *,
    tablet_id: str,
    wing: str,
    broker_host: str,
    broker_port: int,
    repository_port: int,
    root_sha256: str,
    key_in_bundle: bool,
    gateway_addr: str | None = None,
    board: str | None = "rpi4",
    data_mount: PurePosixPath = DATA_MOUNT,
    runtime_dir: PurePosixPath = RUNTIME_DIR,
) -> TabletPlan:
    """The plan for one tablet, or TabletDataError naming what is wrong. `board` None: no
    updates; `gateway_addr` None: the broker's address from the bundle, which must then be an
    IPv4 address (the tablet's firewall works on addresses, not names)."""
    address = gateway_addr or broker_host
    try:
        parsed = ipaddress.IPv4Address(address)
    except ValueError:
        how = "give --gateway-addr" if gateway_addr is None else "give its IPv4 address"
        raise TabletDataError(
            f"the wing gateway's address {address!r} is not an IPv4 address; the tablet's "
            f"firewall opens to an address only: {how}") from None
    if parsed.is_unspecified or parsed.is_loopback or parsed.is_multicast or (
            parsed == ipaddress.IPv4Address("255.255.255.255")):
        raise TabletDataError(
            f"the wing gateway's address {address} cannot be a tablet's peer (loopback, "
            "unspecified, multicast or broadcast): give --gateway-addr")
    if board is not None and board not in BOARDS:
        raise TabletDataError(f"unknown board {board!r} (known: {', '.join(sorted(BOARDS))})")
    for name, port in (("broker", broker_port), ("repository", repository_port)):
        if not 0 < port < 65536:
            raise TabletDataError(f"invalid {name} port {port}")
    return TabletPlan(
        tablet_id=tablet_id, wing=wing, gateway_addr=str(parsed), broker_port=broker_port,
        repository_port=repository_port, compatible=BOARDS[board] if board else None,
        root_sha256=root_sha256, broker_host_override=str(parsed) != broker_host,
        key_in_bundle=key_in_bundle, data_mount=data_mount, runtime_dir=runtime_dir)


def plan_for(
    estate: Estate,
    tablet_id: str,
    bundle: Path,
    *,
    gateway_addr: str | None = None,
    board: str | None = "rpi4",
    now: dt.datetime | None = None,
) -> TabletPlan:
    """The plan for an active tablet of the inventory from its enrolment bundle, checked whole
    first (unaltered, this tablet's, chaining to this estate's root, not expired)."""
    known = estate.inventory.get(tablet_id)
    if known is None:
        raise TabletDataError(f"unknown tablet {tablet_id!r}: enrol it first")
    if known.status is not Status.ACTIVE:
        raise TabletDataError(f"tablet {tablet_id} is {known.status.value}, not active")
    root = fingerprint(estate.root_cert())
    try:
        identity = load_bundle(bundle, now=now or dt.datetime.now(dt.UTC), root_fingerprint=root)
    except BundleError as exc:
        raise TabletDataError(str(exc)) from exc
    if (identity.tablet_id, identity.wing) != (tablet_id, known.wing):
        raise TabletDataError(
            f"enrolment bundle {bundle} is for tablet {identity.tablet_id!r} in wing "
            f"{identity.wing!r}, not {tablet_id!r} in wing {known.wing!r}")
    try:
        wing = estate.wing(identity.wing)
    except EstateError as exc:
        raise TabletDataError(str(exc)) from exc
    return check_plan(
        tablet_id=tablet_id, wing=identity.wing, broker_host=identity.broker_host,
        broker_port=identity.broker_port, repository_port=wing.repository_port,
        root_sha256=root, key_in_bundle=(bundle / KEY).is_file(),
        gateway_addr=gateway_addr, board=board)


def agent_config(plan: TabletPlan) -> dict[str, Any]:
    """The tablet's `agent.toml` as data: identity from the bundle (pinned to the estate root),
    the image's folders, remote wipe and reboot enabled, updates when the image can take them."""
    bundle = plan.enrolment / "bundle"
    config: dict[str, Any] = {
        "device_id": plan.tablet_id,
        "wing": plan.wing,
        "state_dir": str(plan.data_mount / "agent"),
        "socket": str(plan.runtime_dir / "agent.sock"),
        "apps_dir": str(plan.data_mount / "apps"),
        "enrolment_bundle": str(bundle),
        "estate_root_sha256": plan.root_sha256,
        "user_data_dirs": [str(plan.data_mount / "shell")],
        "reboot_command": ["systemctl", "reboot"],
    }
    if not plan.key_in_bundle:  # made on the tablet by `agent enrol-request` (its default)
        config["identity_key"] = str(plan.data_mount / "identity" / KEY)
    if plan.broker_host_override:
        config["broker"] = {"host": plan.gateway_addr, "port": plan.broker_port}
    if plan.compatible:
        config["updates"] = {
            "repository_url": f"https://{plan.gateway_addr}:{plan.repository_port}",
            "ca_file": str(bundle / "ca.pem"),
            "root_file": str(TUF_ROOT),
            "keyring": str(RAUC_KEYRING),
            "compatible": plan.compatible,
            "work_dir": str(plan.data_mount / "agent" / "updates"),
        }
    return config


def network_env(plan: TabletPlan) -> str:
    """`network.env`, as `network-policy` in the image reads it."""
    ports = ",".join(str(port) for port in plan.ports)
    return f"GATEWAY_ADDR={plan.gateway_addr}\nGATEWAY_PORTS={ports}\n"


def write_tablet_data(bundle: Path, out: Path, plan: TabletPlan) -> Path:
    """Write `out/enrolment/` (a copy of `bundle`, `agent.toml`, `network.env`) in one step:
    all of it or nothing. Returns the folder. The tablet key stays 0600, the folder 0700."""
    target = out / "enrolment"
    if target.exists():
        raise TabletDataError(f"{target} exists already: it may hold another tablet's identity")
    missing = sorted(name for name in BUNDLE_FILES if not (bundle / name).is_file())
    if missing:
        raise TabletDataError(f"enrolment bundle {bundle} lacks {', '.join(missing)}")
    with staged_directory(target, 0o700) as stage:
        shutil.copytree(bundle, stage / "bundle")
        (stage / "bundle").chmod(0o755)
        if (stage / "bundle" / KEY).exists():
            (stage / "bundle" / KEY).chmod(PRIVATE)
        write_atomic(stage / "agent.toml", tomli_w.dumps(agent_config(plan)).encode(), PUBLIC)
        write_atomic(stage / "network.env", network_env(plan).encode(), PUBLIC)
    return target
