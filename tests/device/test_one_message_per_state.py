"""Each state that covers the tablet says one thing, once: the words on screen (status bar
included) are exactly that state's message, in both themes — no curfew countdown on a locked
tablet, no "not running" beside "getting ready", no status-bar echo of the screen. One shell for
the module (tests/device/conftest.py: shared_shell)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from device.theme import PALETTES
from tests.device.states import curfew_now, locked, state, updating
from wire.localapi import RESET_REASON, CurfewView, failsafe_state

pytestmark = pytest.mark.gui

STAFF = "Ask a member of staff if you need help."
STILL = ["You can still use:", "Listener line"]


def lost(shell: Any) -> None:
    shell.app.on_agent_lost("connection refused")


def given(shell_state: Any) -> Callable[[Any], None]:
    return lambda shell: shell.app.on_agent_state(shell_state)


STATES: dict[str, tuple[Callable[[Any], None], list[str]]] = {
    "service not answering": (lost, ["The tablet is getting ready", "Please wait a moment."]),
    "not set up": (given(failsafe_state("t-0001", "no wing policy yet")),
                   ["The tablet is getting ready", "Please wait a moment."]),
    "reset": (given(failsafe_state("t-0001", f"{RESET_REASON} by staff")),
              ["This tablet was reset", "Staff will set it up for its next user."]),
    "locked by staff": (given(locked("Cell search in progress")),
                        ["Connected", "This tablet is locked", "Cell search in progress",
                         "Locked since {since}. " + STAFF, *STILL]),
    "locked by the wing": (given(locked("", source="wing")),
                           ["Connected", "This tablet is locked", "Staff have locked this tablet.",
                            "Locked since {since}. " + STAFF, *STILL]),
    "curfew": (given(curfew_now()),
               ["Connected", "It is curfew. Time to rest.", "The tablet opens again at {ends}.",
                *STILL]),
    "waiting for the wing": (given(state(curfew=CurfewView(state="unknown",
                                                           label="no policy yet"))),
                             ["Connected", "The tablet is getting ready",
                              "The tablet is waiting for its settings and the time from the wing.",
                              *STILL]),
    "updating": (given(updating(40)),
                 ["Connected", "The tablet is updating",
                  "Please leave it switched on. It will be ready soon.", "40%"]),
}


def words(shell: Any) -> list[str]:
    """Every text drawn on screen, top to bottom, but the status bar's clock."""
    from kivy.uix.label import Label

    from tests.device.accessibility import visible

    shown = [w for w in shell.app.root.walk(restrict=True)
             if isinstance(w, Label) and w.text.strip() and visible(w)]
    return [w.text for w in shown if w.text != shell.app.clock_text]


def clock(ms: int | None) -> str:
    from device.view import clock_text

    return clock_text(ms, "Europe/London")


@pytest.mark.parametrize("theme", sorted(PALETTES))
@pytest.mark.parametrize("name", sorted(STATES))
def test_a_state_that_covers_the_tablet_says_one_thing(shared_shell, theme, name):
    shell = shared_shell
    shell.app.set_language("en")
    shell.app.set_text_scale(1.0)
    shell.app.set_theme(theme)
    show, expected = STATES[name]
    show(shell)
    shell.step(4)
    assert shell.screen() in ("lock", "curfew", "updating")
    shell_state = shell.app.shell_state
    since, ends = clock(shell_state.lock.since), clock(shell_state.curfew.ends_at)
    assert words(shell) == [text.format(since=since, ends=ends) for text in expected]


def test_the_lock_screen_names_the_listener_line_in_polish(shared_shell):
    shell = shared_shell
    shell.app.set_theme("standard")
    shell.app.set_text_scale(1.0)
    shell.app.set_language("pl")
    try:
        shell.app.on_agent_state(locked())
        shell.step(4)
        shown = words(shell)
        assert "Linia Listener" in shown and "Listener line" not in shown
        assert "Ten tablet jest zablokowany" in shown
    finally:
        shell.app.set_language("en")


def test_the_on_screen_keyboard_grows_with_the_text_size(shared_shell):
    from device.prefs import TEXT_SCALES

    shell = shared_shell
    shell.app.set_theme("standard")
    shell.app.set_language("en")
    shell.app.on_agent_state(state())
    shell.app.go("requests")
    shell.step()
    screen = shell.app.root.ids.sm.get_screen("requests")
    screen.write("general")
    sizes = {}
    for each in sorted(TEXT_SCALES):
        shell.app.set_text_scale(each)
        shell.step(4)
        key = next(w for w in screen.ids.keyboard.walk() if type(w).__name__ == "KeyButton")
        label = key.ids.key_label
        assert label.texture_size[1] <= key.height - 8, (each, label.texture_size, key.height)
        sizes[each] = label.font_size
    smallest = min(sizes)
    assert all(size == pytest.approx(sizes[smallest] * each / smallest)
               for each, size in sizes.items())
