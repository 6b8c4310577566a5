"""Help and settings and Requests, used through taps on the real window."""

from __future__ import annotations

import json

import pytest

from tests.device.conftest import stop_app
from tests.device.states import locked, state

pytestmark = pytest.mark.gui


def find(shell, text, root=None):
    root = root or shell.app.root.ids.sm.current_screen
    return next(w for w in root.walk() if getattr(w, "text", "") == text)


def texts(shell):
    return {getattr(w, "text", "") for w in shell.app.root.walk()}


@pytest.fixture
def polish_off():
    yield
    from device.ui.tr import tr

    tr.switch("en")


def test_choosing_polish_changes_every_screen_and_is_remembered(
    start_shell, kivy_window, tmp_path, polish_off
):
    data = tmp_path / "tablet"
    shell = start_shell(connect=False, data_dir=data)
    shell.app.on_agent_state(state())
    shell.app.go("settings")
    shell.step()
    shell.tap(find(shell, "Polski"))
    assert "Pomoc i ustawienia" in texts(shell)
    assert "Połączono" in texts(shell)  # the status bar too
    shell.screenshot("settings-polish")
    shell.tap(find(shell, "Start"))
    assert {"Umiejętności cyfrowe", "Wnioski", "Pomoc i ustawienia"} <= texts(shell)
    assert json.loads((data / "prefs.json").read_text())["language"] == "pl"

    stop_app(shell.app, kivy_window)
    shell = start_shell(connect=False, data_dir=data)
    shell.app.on_agent_state(locked("Przeszukanie celi"))
    shell.step()
    assert "Ten tablet jest zablokowany" in texts(shell)
    shell.screenshot("lock-polish")


def test_high_contrast_and_text_size_apply_at_once_and_are_remembered(
    start_shell, kivy_window, tmp_path
):
    from device.theme import HIGH_CONTRAST

    data = tmp_path / "tablet"
    shell = start_shell(connect=False, data_dir=data)
    shell.app.on_agent_state(state())
    shell.app.go("settings")
    shell.step()
    title = find(shell, "Help and settings")
    normal_height = title.texture_size[1]
    shell.tap(find(shell, "High contrast"))
    shell.tap(find(shell, "Largest"))
    assert shell.app.palette.name == "high_contrast", shell.app.palette.name
    assert shell.app.root.bg_color == list(HIGH_CONTRAST.bg)
    assert find(shell, "High contrast").icon == "tick"  # chosen: shown by a tick, not colour alone
    assert find(shell, "Standard").icon == ""
    assert find(shell, "Help and settings").texture_size[1] > normal_height

    stop_app(shell.app, kivy_window)
    shell = start_shell(connect=False, data_dir=data)
    assert shell.app.palette.name == "high_contrast"
    assert shell.app.text_scale == 1.5


def type_on_screen(shell, keyboard, text):
    for char in text:
        if char == " ":
            shell.tap(find(shell, "Space", keyboard))
            continue
        if char.isupper():
            shell.tap(find(shell, "Shift", keyboard))
        shell.tap(find(shell, char, keyboard))


def test_unlock_returns_the_prisoner_to_where_they_were(start_shell):
    shell = start_shell(connect=False)
    shell.app.on_agent_state(state())
    shell.app.open_lesson("email")
    shell.step()
    shell.tap(find(shell, "Next"))
    shell.app.on_agent_state(locked())
    shell.step()
    assert shell.screen() == "lock"
    shell.app.on_agent_state(state())
    shell.step()
    assert shell.screen() == "lesson"
    assert shell.app.root.ids.sm.current_screen.step_title == "An email address"


def test_taps_on_a_covered_screen_cannot_leave_the_lock(start_shell):
    shell = start_shell(connect=False)
    shell.app.on_agent_state(locked())
    shell.step()
    shell.app.go("settings")  # e.g. a tap that was in flight when the lock arrived
    shell.step()
    assert shell.screen() == "lock"
