"""Issue 2's whole slice: an officer's `cellbridge staff lock --wait` against the real gateway,
over mutual TLS, reaches the prisoner's shell as the lock screen with the officer's reason, and
returns 0 once the tablet has confirmed; unlock takes the lock screen away."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support.wing import make_wing

__all__ = ["make_wing"]

pytestmark = pytest.mark.gui


def test_staff_lock_shows_the_lock_screen_and_unlock_takes_it_away(
    make_wing: Callable, start_shell: Callable
) -> None:
    wing = make_wing(1)
    (agent,) = wing.start_agents("T-0001")
    shell = start_shell(agent.socket_path)
    assert shell.wait_until(lambda: shell.app.agent_reachable and not shell.app.shell_state.locked)
    assert shell.screen() != "lock"

    locked = wing.staff("lock", "--device", "T-0001", "--reason", "Cell search", "--wait", "15")

    assert locked.returncode == 0, locked.stderr
    assert shell.wait_until(lambda: shell.screen() == "lock")
    assert shell.app.root.ids.sm.current_screen.ids.reason.text == "Cell search"
    assert shell.screenshot("staff-lock").stat().st_size > 0

    unlocked = wing.staff("unlock", "--device", "T-0001", "--reason", "All clear", "--wait", "15")

    assert unlocked.returncode == 0, unlocked.stderr
    assert shell.wait_until(lambda: shell.screen() != "lock")
    assert shell.screenshot("staff-unlock").stat().st_size > 0
