"""The prison link's contract: what the prison service sends a wing gateway (signed commands)
and what a wing gateway sends up for the prison (docs/prison.md).

Topics are as each side sees them. The wing broker's bridge remaps them: a wing's local
`uplink/…`, `tablet/+/reported` and `tablet/+/status` appear at the prison broker under
`wing/<wing>/…`, and the prison's `wing/<wing>/prison/…` appears on the wing broker as `prison/…`.

A prison command is a signed body like every wing document, sealed with the prison key, for the
audience `prison:<prison id>`; the wing gateway verifies it and issues its own wing documents, so
tablets keep trusting only their wing key.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StringConstraints

from wire.documents import Counter, DeviceId, Document, Millis, Name, ShortText, SignedBody
from wire.topics import DEVICE_ID_PATTERN

# -- on the wing broker (local names) ---------------------------------------------------------
PRISON_COMMAND = "prison/cmd/lockdown"
"""The prison's lockdown command for this wing (retained): the newest version wins."""
PRISON_SYNC = "prison/sync"
"""The prison asks for the audit entries after a sequence number (a gap it saw)."""
UPLINK_AUDIT = "uplink/audit"
UPLINK_APPLIED = "uplink/applied"
UPLINK_SUMMARY = "uplink/summary"
"""The wing gateway's summary of its wing (retained): counts and rollout progress."""
PRISON_ALL = "prison/#"

# -- on the prison broker ---------------------------------------------------------------------
WING_UP_FILTERS = ("wing/+/tablet/+/reported", "wing/+/tablet/+/status", "wing/+/uplink/#",
                   "wing/+/link")


def at_prison(wing: str, local_topic: str) -> str:
    """The prison broker's name for a wing-local topic (both directions)."""
    return f"wing/{wing}/{local_topic}"


def split_prison_topic(topic: str) -> tuple[str, str] | None:
    """(wing, local topic) of a prison-broker topic under `wing/<wing>/`, else None."""
    parts = topic.split("/", 2)
    if len(parts) != 3 or parts[0] != "wing" or not parts[1]:
        return None
    return parts[1], parts[2]


def prison_audience(prison: str) -> str:
    return f"prison:{prison}"


class PrisonLockdown(SignedBody):
    """Prison-wide lock or unlock: each wing gateway turns it into its own wing lockdown."""

    type: Literal["prison_lockdown"] = "prison_lockdown"
    audience: Annotated[str, StringConstraints(pattern=rf"^prison:{DEVICE_ID_PATTERN}$")]
    locked: bool
    by: Name
    reason: ShortText


class Applied(Document):
    """A wing gateway's answer to a prison command (`uplink/applied`, retained): which wing
    lockdown version carries it and which tablets it targets, or why it was refused."""

    command_version: Counter
    lockdown_version: Counter = 0
    targets: tuple[DeviceId, ...] = ()
    refused: ShortText = ""
    at: Millis

    MAX_BYTES: ClassVar[int] = 512 * 1024


class AuditUp(Document):
    """One wing audit entry, as the wing's hash chain holds it (`uplink/audit`)."""

    seq: Annotated[int, Field(ge=1, lt=2**53)]
    at: Millis
    actor: Annotated[str, StringConstraints(max_length=200)]
    action: Annotated[str, StringConstraints(max_length=64)]
    target: Annotated[str, StringConstraints(max_length=200)]
    detail: dict[str, Any]
    prev: Annotated[str, StringConstraints(max_length=64)]
    hash: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]

    MAX_BYTES: ClassVar[int] = 256 * 1024


class SyncRequest(Document):
    """The prison holds the wing's audit up to `after`: send what follows (`prison/sync`)."""

    after: Counter


MAX_ROLLOUTS_UP = 20
"""A wing summary names at most this many rollouts: the active ones, then the newest."""


class RolloutProgress(Document):
    """One rollout of a wing, as its gateway counts it (the wing's `rollout status`)."""

    id: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
    version: Annotated[str, StringConstraints(max_length=64)]
    stage: Literal["canary", "rest", "done", "stopped", "cancelled"]
    paused: bool = False
    tablets: Counter
    """Canary and rest together."""
    waiting: Counter = 0
    in_progress: Counter = 0
    succeeded: Counter = 0
    failed: Counter = 0
    not_reached: Counter = 0
    reason: ShortText = ""


class WingSummary(Document):
    """The wing gateway's own view of its wing (`uplink/summary`, retained), sent when it
    changes and at least every `SUMMARY_REFRESH_S`: what the gateway counts, which the prison
    shows beside what it counts itself from the tablets' bridged reports."""

    at: Millis
    tablets: Counter
    online: Counter
    locked: Counter
    in_curfew: Counter
    lockdown_version: Counter = 0
    """The wing lockdown the gateway has issued (0: none)."""
    rollouts: Annotated[tuple[RolloutProgress, ...], Field(max_length=MAX_ROLLOUTS_UP)] = ()

    MAX_BYTES: ClassVar[int] = 64 * 1024

    def same_as(self, other: WingSummary | None) -> bool:
        """The same counts and progress, whatever the moment."""
        return other is not None and self.model_copy(update={"at": 0}) == other.model_copy(
            update={"at": 0})
