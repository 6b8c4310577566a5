"""Document types of the wire contract (docs/architecture.md).

Gateway→tablet documents are *signed bodies* (sealed in an envelope by `wire.envelope`); tablet→
gateway documents are plain JSON, authenticated by the tablet's connection identity. Every model is
frozen and strict and forbids unknown fields, so a document means exactly one thing.
"""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints

from wire.model import AddedLater as AddedLater
from wire.model import Counter as Counter
from wire.model import Document as Document
from wire.model import Millis as Millis
from wire.model import Version as Version
from wire.model import WebGrant as WebGrant
from wire.prisoners import Occupants, PrisonNumber
from wire.topics import DEVICE_ID_PATTERN

ShortText = Annotated[str, StringConstraints(max_length=500)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=120)]
DeviceId = Annotated[str, StringConstraints(pattern=rf"^{DEVICE_ID_PATTERN}$")]
Audience = Annotated[str, StringConstraints(pattern=rf"^(device|wing):{DEVICE_ID_PATTERN}$")]
Digest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
APP_ID_PATTERN = r"[a-z][a-z0-9_.-]{0,63}"
AppId = Annotated[str, StringConstraints(pattern=rf"^{APP_ID_PATTERN}$")]
"""An app's id: lower-case, a name in policy, manifests, the shell's tiles and launch requests."""
_APP_ID = re.compile(rf"^{APP_ID_PATTERN}$")


def is_app_id(value: str) -> bool:
    return isinstance(value, str) and bool(_APP_ID.match(value))


def device_audience(device_id: str) -> str:
    return f"device:{device_id}"


def wing_audience(wing_id: str) -> str:
    return f"wing:{wing_id}"


class SignedBody(Document):
    """Fields every signed document carries: what it is, for whom, and when it is valid."""

    type: str
    audience: Audience
    version: Version
    issued: Millis
    expires: Millis

    MAX_BYTES: ClassVar[int] = 16 * 1024


class LockOrder(Document):
    """Staff's decision about a lock: who decided, why, and since when."""

    locked: bool
    by: Name
    reason: ShortText
    since: Millis


class UpdateTarget(Document):
    """The OS release a tablet should run: a TUF target the tablet verifies itself.

    The gateway only names it; TUF metadata says whether it may be installed. The switch to the
    new slot waits for the window, if one is set (e.g. curfew hours), so no one is interrupted.
    """

    target: Annotated[str, StringConstraints(pattern=r"^os/[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")]
    version: Annotated[str, StringConstraints(pattern=r"^\d{1,9}(\.\d{1,9}){0,3}$")]
    rollout: Annotated[str, StringConstraints(max_length=64)] = ""
    window_start: Millis | None = None
    window_end: Millis | None = None


MAX_WEB_GRANTS = 32


class DesiredState(SignedBody, AddedLater):
    """The full desired state of one tablet (`tablet/{id}/desired`, retained)."""

    ADDED_LATER = frozenset({"web_grants", "occupants"})

    type: Literal["desired"] = "desired"
    lock: LockOrder
    profile: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")] = "standard"
    update: UpdateTarget | None = None
    web_grants: Annotated[tuple[WebGrant, ...], Field(max_length=MAX_WEB_GRANTS)] = ()
    """The tablet's web grants in effect or starting later (the Web app lists the live ones)."""
    occupants: Occupants = Occupants()
    """Who lives in the tablet's cell, with their PIN verifiers (wire.prisoners): the only
    people who may sign in on it."""

    MAX_BYTES: ClassVar[int] = 32 * 1024


class WingLockdown(SignedBody):
    """Wing-wide lock or unlock (`wing/lockdown`, retained); combines with each tablet's lock."""

    type: Literal["lockdown"] = "lockdown"
    lock: LockOrder


class SignedTime(SignedBody):
    """The gateway's clock (`wing/time`): the tablets' trusted time. `version` is `issued`."""

    type: Literal["time"] = "time"


LockSource = Literal["device", "wing", "failsafe"]


class LockView(Document):
    """The lock as a tablet enforces it: the combination of its own lock and the wing's."""

    locked: bool
    source: LockSource | None = None
    by: str = ""
    reason: str = ""
    since: Millis = 0


UpdateStateName = Literal[
    "idle", "downloading", "verified", "installing", "installed", "rebooting", "trial_boot",
    "committed", "rolled_back", "failed",
]


class UpdateReport(Document):
    """Where a tablet's update engine stands (part of `ReportedState`)."""

    state: UpdateStateName = "idle"
    target: Annotated[str, StringConstraints(max_length=120)] = ""
    version: Annotated[str, StringConstraints(max_length=40)] = ""
    running: Annotated[str, StringConstraints(max_length=40)] = ""
    """The OS version of the slot the tablet booted."""
    slot: Annotated[str, StringConstraints(max_length=16)] = ""
    progress: Annotated[int, Field(ge=0, le=100)] = 0
    error: ShortText = ""


AppInstallStateName = Literal["pending", "installing", "failed", "refused"]
MAX_APP_REPORTS = 16


class AppInstallReport(Document):
    """An app whose pinned build is not (yet) installed on a tablet (part of `ReportedState`):
    `failed` is retried by the tablet with backoff; `refused` is a signed bundle the tablet will
    not install (it waits for another release or another pinned version)."""

    app: AppId
    version: Annotated[str, StringConstraints(max_length=32)]
    state: AppInstallStateName
    error: Annotated[str, StringConstraints(max_length=200)] = ""


class ReportedState(AddedLater):
    """What a tablet has applied (`tablet/{id}/reported`, retained)."""

    ADDED_LATER = frozenset({"signed_in", "cert_not_after"})

    device: DeviceId
    desired_version: Counter
    lockdown_version: Counter
    lock: LockView
    profile: Annotated[str, StringConstraints(max_length=32)]
    """The profile the tablet's apps and sites follow now (`ShellState.profile`): the tablet's
    own, or on a tablet with prisoner accounts the signed-in person's ("" with nobody signed in;
    who it is is `signed_in`). The tablet's own profile is its desired state's `profile`."""
    at: Millis
    boot_id: Annotated[str, StringConstraints(max_length=64)]
    agent_version: Annotated[str, StringConstraints(max_length=32)]
    update: UpdateReport | None = None
    policy_hash: Annotated[str, StringConstraints(pattern=r"^([0-9a-f]{64})?$")] = ""
    """`wire.policy.policy_hash` of the wing policy the tablet enforces ("" for none yet)."""
    curfew: Literal["open", "warning", "curfew", "unknown"] = "unknown"
    """Where the tablet stands against curfew by its own trusted clock and stored policy."""
    apps: Annotated[tuple[AppInstallReport, ...], Field(max_length=MAX_APP_REPORTS)] = ()
    """Apps of the policy's catalogue whose pinned build is not installed, at most
    `MAX_APP_REPORTS` (by app id); empty when every pinned build is installed."""
    signed_in: PrisonNumber | None = None
    """Who is signed in on the tablet now (None: nobody, so no web)."""
    cert_not_after: Millis | None = None
    """When the tablet's own client certificate runs out (its notAfter), which the gateway
    cannot see otherwise; None: not known (an agent before this field, or no TLS)."""

    MAX_BYTES: ClassVar[int] = 16 * 1024


class Status(Document):
    """Birth (`online`) on every connect and last will (`offline`) (`tablet/{id}/status`)."""

    state: Literal["online", "offline"]
    boot_id: Annotated[str, StringConstraints(max_length=64)]
    at: Millis

    MAX_BYTES: ClassVar[int] = 1024


AckState = Literal["received", "in_progress", "succeeded", "failed", "rejected"]


class Ack(Document):
    """Progress of a job, or a tablet's refusal of a document (`tablet/{id}/ack`).

    `ref` names what is acknowledged: a job id, or `desired/<version>`, `lockdown/<version>` for a
    refused state document.
    """

    ref: Annotated[str, StringConstraints(min_length=1, max_length=120)]
    state: AckState
    reason: ShortText = ""
    at: Millis

    MAX_BYTES: ClassVar[int] = 2048
