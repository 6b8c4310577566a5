"""The lock a tablet enforces, from its own lock order and its wing's. Pure."""

from __future__ import annotations

from wire.documents import DesiredState, LockOrder, LockSource, LockView, WingLockdown

UNLOCKED = LockView(locked=False)

NOT_SET_UP = LockView(
    locked=True,
    source="failsafe",
    by="system",
    reason="This tablet is waiting for the wing to set it up.",
)
"""A tablet with no desired state yet: new, or its state was wiped. Never unlocked by default."""


def _view(order: LockOrder, source: LockSource) -> LockView:
    return LockView(locked=True, source=source, by=order.by, reason=order.reason, since=order.since)


def combine(desired: DesiredState | None, lockdown: WingLockdown | None) -> LockView:
    """Locked if either the device's or the wing's order says so.

    When both lock, the most recent order is the one shown (the wing's on a tie): it is what staff
    did last, and lifting it alone still leaves the tablet locked by the other.
    A tablet that has no desired state of its own yet is locked (`NOT_SET_UP`): the gateway
    issues every registered tablet a first desired state, so only a new tablet or one whose state
    was wiped has none, and neither may be used before its wing says so.
    """
    if desired is None:
        return NOT_SET_UP
    device = desired.lock if desired.lock.locked else None
    wing = lockdown.lock if lockdown is not None and lockdown.lock.locked else None
    if device is not None and (wing is None or device.since > wing.since):
        return _view(device, "device")
    if wing is not None:
        return _view(wing, "wing")
    return UNLOCKED
