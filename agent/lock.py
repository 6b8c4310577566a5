"""The lock a tablet enforces, from its own lock order and its wing's (DESIGN §4). Pure."""

from __future__ import annotations

from wire.documents import DesiredState, LockOrder, LockSource, LockView, WingLockdown

UNLOCKED = LockView(locked=False)


def _view(order: LockOrder, source: LockSource) -> LockView:
    return LockView(locked=True, source=source, by=order.by, reason=order.reason, since=order.since)


def combine(desired: DesiredState | None, lockdown: WingLockdown | None) -> LockView:
    """Locked if either the device's or the wing's order says so.

    When both lock, the most recent order is the one shown (the wing's on a tie): it is what staff
    did last, and lifting it alone still leaves the tablet locked by the other.
    A tablet that has never received an order is unlocked: an empty, readable store is a new
    tablet, not a fault (an unreadable one is the fail-safe's job, `agent.view`).
    """
    device = desired.lock if desired is not None and desired.lock.locked else None
    wing = lockdown.lock if lockdown is not None and lockdown.lock.locked else None
    if device is not None and (wing is None or device.since > wing.since):
        return _view(device, "device")
    if wing is not None:
        return _view(wing, "wing")
    return UNLOCKED
