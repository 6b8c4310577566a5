"""The lock a tablet enforces: its own order combined with its wing's (pure rules)."""

from __future__ import annotations

from typing import Any

from agent.lock import NOT_SET_UP, combine
from agent.view import shell_state
from tests.support.agents import TestSigner

signer = TestSigner()


def desired(locked: bool, since: int = 1_000, reason: str = "device order") -> Any:
    return signer.desired("t1", 1, locked=locked, reason=reason, issued=since)


def lockdown(locked: bool, since: int = 1_000, reason: str = "wing order") -> Any:
    return signer.lockdown("w1", 1, locked=locked, reason=reason, issued=since)


def test_a_tablet_without_desired_state_is_locked_as_not_set_up() -> None:
    assert combine(None, None) == NOT_SET_UP
    assert (NOT_SET_UP.locked, NOT_SET_UP.source) == (True, "failsafe")


def test_lifting_a_lockdown_does_not_unlock_a_tablet_that_is_not_set_up() -> None:
    assert combine(None, lockdown(False)) == NOT_SET_UP


def test_a_tablet_not_set_up_stays_locked_under_a_lockdown() -> None:
    assert combine(None, lockdown(True)).locked is True


def test_the_first_desired_state_unlocks() -> None:
    assert combine(signer.first("t1"), None).locked is False


def test_a_device_lock_locks_with_its_reason() -> None:
    view = combine(desired(True, reason="fight on the landing"), None)
    assert (view.locked, view.source, view.reason) == (True, "device", "fight on the landing")


def test_a_wing_lockdown_locks_an_unlocked_tablet() -> None:
    view = combine(desired(False), lockdown(True, reason="roll check"))
    assert (view.locked, view.source, view.reason) == (True, "wing", "roll check")


def test_lifting_the_lockdown_leaves_a_device_lock_in_force() -> None:
    view = combine(desired(True), lockdown(False))
    assert (view.locked, view.source) == (True, "device")


def test_unlocking_the_device_leaves_a_lockdown_in_force() -> None:
    view = combine(desired(False), lockdown(True))
    assert (view.locked, view.source) == (True, "wing")


def test_when_both_lock_the_most_recent_order_is_shown() -> None:
    assert combine(desired(True, since=2_000), lockdown(True, since=1_000)).source == "device"
    assert combine(desired(True, since=1_000), lockdown(True, since=2_000)).source == "wing"


def test_when_both_lock_at_the_same_instant_the_wing_is_shown() -> None:
    assert combine(desired(True), lockdown(True)).source == "wing"


def test_both_unlocked_is_unlocked() -> None:
    assert combine(desired(False), lockdown(False)).locked is False


def test_shell_state_carries_the_lock_and_profile() -> None:
    state = shell_state(
        "t1", signer.desired("t1", 1, locked=True, profile="basic"), None, connected=True
    )
    assert (state.locked, state.lock.source, state.profile, state.connected) == (
        True,
        "device",
        "basic",
        True,
    )


def test_an_error_computing_the_state_fails_closed() -> None:
    state = shell_state("t1", object(), None, connected=True)  # type: ignore[arg-type]
    assert state.locked is True
    assert state.lock.source == "failsafe"
