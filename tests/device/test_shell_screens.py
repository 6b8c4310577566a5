"""The shell in a real window under Xvfb: what each state puts on the screen.

States are handed to the App exactly as its agent link does (`on_agent_state`); the tests with the
real agent behind the socket are in test_shell_with_agent.py.
"""

from __future__ import annotations

import pytest

from tests.device.states import curfew_now, curfew_warning, locked, state, updating

pytestmark = pytest.mark.gui


def labels(widget):
    from kivy.uix.label import Label

    return [w.text for w in widget.walk() if isinstance(w, Label) and w.text]


def test_with_no_agent_the_shell_shows_the_lock_screen(start_shell, tmp_path):
    shell = start_shell(tmp_path / "nobody-listens.sock")
    assert shell.wait_until(lambda: not shell.app.agent_reachable and shell.screen() == "lock")
    shown = labels(shell.app.root.ids.sm.current_screen)
    assert "The tablet is getting ready" in shown  # calm: nothing says it was locked by anyone
    assert not any("locked" in text for text in shown)
    shell.screenshot("lock-no-agent")


def test_lock_screen_shows_the_reason_staff_gave(start_shell):
    shell = start_shell(connect=False)
    shell.app.on_agent_state(locked("Cell search in progress"))
    shell.step()
    assert shell.screen() == "lock"
    lock = shell.app.root.ids.sm.current_screen
    assert lock.ids.reason.text == "Cell search in progress"
    assert "This tablet is locked" in labels(lock)
    shell.screenshot("lock")


def test_lock_screen_offers_only_always_allowed_apps(start_shell):
    shell = start_shell(connect=False)
    shell.app.on_agent_state(locked())
    shell.step()
    tiles = shell.app.root.ids.sm.current_screen.ids.tiles.children
    assert [t.text for t in tiles] == ["Listener line"]


def test_home_shows_built_in_apps_and_only_allowed_external_apps(start_shell):
    shell = start_shell(connect=False)
    shell.app.on_agent_state(state())
    shell.step()
    assert shell.screen() == "home"
    tiles = [t.text for t in reversed(shell.app.root.ids.sm.current_screen.ids.tiles.children)]
    assert tiles == [
        "Digital skills",
        "Requests",
        "Help and settings",
        "Listener line",
        "Calculator",
    ]
    shell.screenshot("home")


def test_curfew_screen_says_when_the_tablet_opens(start_shell):
    shell = start_shell(connect=False)
    shell.app.on_agent_state(curfew_now())
    shell.step()
    assert shell.screen() == "curfew"
    assert "It is curfew. Time to rest." in labels(shell.app.root.ids.sm.current_screen)
    assert shell.app.curfew_until.startswith("The tablet opens again at ")
    shell.screenshot("curfew")


def test_curfew_warning_shows_a_banner_with_words_and_an_icon(start_shell):
    shell = start_shell(connect=False)
    shell.app.on_agent_state(curfew_warning(14))
    shell.step()
    assert shell.screen() == "home"
    assert shell.app.banner_text == "Curfew starts in 14 minutes."
    assert shell.app.banner_icon == "moon"
    assert "Curfew starts in 14 minutes." in labels(shell.app.root)
    shell.screenshot("home-curfew-warning")


def test_updating_screen_shows_progress(start_shell):
    shell = start_shell(connect=False)
    shell.app.on_agent_state(updating(40))
    shell.step()
    assert shell.screen() == "updating"
    assert "40%" in labels(shell.app.root.ids.sm.current_screen)
    shell.screenshot("updating")
