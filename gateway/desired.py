"""The rules of desired state, pure: what the next document is, who is behind, what to re-issue.

Versions only grow. A re-issue is a *new* version with the same content, so a tablet never sees
one version with two different digests (it would refuse the second as not newer).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from wire.documents import (
    DesiredState,
    LockOrder,
    WingLockdown,
    device_audience,
    wing_audience,
)
from wire.prisoners import Occupants

Doc = TypeVar("Doc", DesiredState, WingLockdown)


@dataclass(frozen=True, slots=True)
class LockRequest:
    """A staff decision, before it becomes a signed document."""

    locked: bool
    by: str
    reason: str


PLAUSIBLE_VERSION = 2**40
"""Far beyond any version a gateway issues one by one, far below the wire's 2**53 limit."""


def next_version(current: int, reported: int | Iterable[int] = 0) -> int:
    """The version of a gateway's next document: above its own last one and above what the
    tablets report applying.

    A gateway that lost its records (a restored backup, a new host) must still issue versions
    the tablets accept as newer. A report no gateway could have caused (past
    `PLAUSIBLE_VERSION`) is ignored: a hostile tablet must not push versions to the wire's
    limit and so block every later document for its cell or wing."""
    reports = [reported] if isinstance(reported, int) else list(reported)
    floor = max((v for v in reports if v <= PLAUSIBLE_VERSION), default=0)
    return max(current, floor) + 1


def next_desired(
    current: DesiredState | None, device_id: str, request: LockRequest, now_ms: int, ttl_ms: int,
    *, reported: int = 0,
) -> DesiredState:
    """The tablet's next desired state with the new lock, the rest carried over; `reported` is
    the version the tablet says it applied (see `next_version`)."""
    return DesiredState(
        audience=device_audience(device_id),
        version=next_version(current.version if current else 0, reported),
        issued=now_ms,
        expires=now_ms + ttl_ms,
        lock=LockOrder(
            locked=request.locked, by=request.by, reason=request.reason, since=now_ms
        ),
        profile=current.profile if current else "standard",
        update=current.update if current else None,
        web_grants=current.web_grants if current else (),
        occupants=current.occupants if current else Occupants(),
    )


FIRST_ORDER = LockRequest(locked=False, by="system", reason="registered on the wing")


def first_desired(device_id: str, now_ms: int, ttl_ms: int, *, reported: int = 0
                  ) -> DesiredState:
    """A newly registered tablet's first desired state. Tablets stay locked until they have one
    (agent.lock.NOT_SET_UP), so registering a tablet is what makes it usable."""
    return next_desired(None, device_id, FIRST_ORDER, now_ms, ttl_ms, reported=reported)


def next_lockdown(
    current: WingLockdown | None, wing_id: str, request: LockRequest, now_ms: int, ttl_ms: int,
    *, reported: Iterable[int] = (),
) -> WingLockdown:
    """The wing's next lockdown: newer than any the tablets report applying (`next_version`)."""
    return WingLockdown(
        audience=wing_audience(wing_id),
        version=next_version(current.version if current else 0, reported),
        issued=now_ms,
        expires=now_ms + ttl_ms,
        lock=LockOrder(
            locked=request.locked, by=request.by, reason=request.reason, since=now_ms
        ),
    )


def needs_reissue(expires_ms: int, now_ms: int, margin_ms: int) -> bool:
    return expires_ms - now_ms <= margin_ms


def reissued(current: Doc, now_ms: int, ttl_ms: int, *,
             reported: int | Iterable[int] = 0) -> Doc:
    """The same content as a new version (`next_version`) with a fresh validity window; callers
    change what they revise (profile, update target) on the copy."""
    return current.model_copy(update={
        "version": next_version(current.version, reported), "issued": now_ms,
        "expires": now_ms + ttl_ms,
    })


def is_behind(desired_version: int, reported_version: int | None) -> bool:
    """A tablet is behind while it has not reported applying the desired version (or later)."""
    return reported_version is None or reported_version < desired_version


def behind(
    desired: Mapping[str, int], reported: Mapping[str, int]
) -> list[str]:
    """The tablets (sorted) that have not reported applying their desired version."""
    return sorted(d for d, v in desired.items() if is_behind(v, reported.get(d)))


def pending(needs: Mapping[str, int], reported: Mapping[str, int], ids: Iterable[str]) -> set[str]:
    """Of `ids`, those whose reported version is still below what `needs` asks of them."""
    return {d for d in ids if is_behind(needs[d], reported.get(d))}
