"""Every screen, in both themes and at the largest text size: text contrast ≥ 4.5:1, touch targets
≥ 48 dp, words with every icon. A screenshot of each screen and theme is saved (set
CELLBRIDGE_SCREENSHOT_DIR=docs/screenshots to refresh the README's pictures)."""

from __future__ import annotations

import pytest

from device.prefs import TEXT_SCALES
from device.theme import PALETTES, contrast_ratio
from tests.device.accessibility import (
    clipped_labels,
    contrast_failures,
    target_failures,
    unlabelled_controls,
    visible,
)
from tests.device.states import (
    OCCUPANTS,
    curfew_now,
    curfew_warning,
    locked,
    signed_in,
    state,
    updating,
    web,
    web_blocked,
)
from wire.localapi import PersonReply

pytestmark = pytest.mark.gui


def show_home(shell):
    shell.app.on_agent_state(state())


def show_banner(shell):
    shell.app.on_agent_state(curfew_warning(5))


def show_lock(shell):
    shell.app.on_agent_state(locked("Wing search: tablets locked until 16:00"))


def show_curfew(shell):
    shell.app.on_agent_state(curfew_now())


def show_updating(shell):
    shell.app.on_agent_state(updating(62))


def show_error(shell):
    shell.app.on_agent_state(state())
    shell.app.go("error")


def show_lessons(shell):
    shell.app.on_agent_state(state())
    shell.app.go("lessons")


def show_lesson(shell):
    shell.app.on_agent_state(state())
    shell.app.open_lesson("staying-safe")
    shell.step()
    shell.app.root.ids.sm.get_screen("lesson").forward()


def show_settings(shell):
    shell.app.on_agent_state(state())
    shell.app.go("settings")


def show_requests(shell):
    shell.app.on_agent_state(state())
    shell.app.go("requests")
    shell.step()
    shell.app.root.ids.sm.get_screen("requests").choose_type()


def show_request_writing(shell):
    shell.app.on_agent_state(state())
    shell.app.go("requests")
    shell.step()
    screen = shell.app.root.ids.sm.get_screen("requests")
    screen.write("healthcare")
    screen.ids.text.text = "I would like to see the nurse about my back."


def show_web(shell):
    shell.app.on_agent_state(web())
    shell.app.go("web")


def show_web_blocked(shell):
    shell.app.on_agent_state(web())
    shell.step()
    shell.app.on_agent_state(web_blocked())  # a refusal after the shell started
def show_sign_in(shell):
    shell.app.on_agent_state(state(occupants=OCCUPANTS))


def show_pin_pad(shell):
    from device.accounts import sign_in_message
    from device.ui.tr import tr

    show_sign_in(shell)
    shell.app.people.choose("A1234BC", "John S.")
    screen = shell.app.root.ids.sm.get_screen("pin")
    screen.digits = "4829"
    screen.message = sign_in_message(
        PersonReply(op="sign_in", outcome="wrong", attempts_left=3), tr.catalogue)


def show_choose_pin(shell):
    shell.app.on_agent_state(state(occupants=OCCUPANTS, person=signed_in(shell, True)))


def show_signed_in(shell):
    shell.app.on_agent_state(state(occupants=OCCUPANTS, person=signed_in(shell)))


def show_change_pin(shell):
    from device.accounts import change_pin_message
    from device.ui.tr import tr

    show_signed_in(shell)
    shell.app.go("changepin")
    screen = shell.app.root.ids.sm.get_screen("changepin")
    screen.digits = "4829"
    screen.message = change_pin_message(
        PersonReply(op="change_pin", outcome="wrong", attempts_left=3), tr.catalogue)


SCREENS = {
    "home": show_home,
    "home-curfew-warning": show_banner,
    "lock": show_lock,
    "curfew": show_curfew,
    "updating": show_updating,
    "error": show_error,
    "lessons": show_lessons,
    "lesson": show_lesson,
    "settings": show_settings,
    "requests-type": show_requests,
    "requests-write": show_request_writing,
    "web": show_web,
    "web-blocked": show_web_blocked,
    "signin": show_sign_in,
    "signin-pin": show_pin_pad,
    "signin-choose-pin": show_choose_pin,
    "signed-in": show_signed_in,
    "signin-change-pin": show_change_pin,
}


@pytest.mark.parametrize("theme", sorted(PALETTES))
def test_every_palette_pair_has_enough_contrast(theme):
    for surface, (text, background) in PALETTES[theme].pairs().items():
        assert contrast_ratio(text, background) >= 4.5, surface


@pytest.mark.parametrize("theme", sorted(PALETTES))
@pytest.mark.parametrize("screen", sorted(SCREENS))
def test_screen_is_readable_and_easy_to_tap(start_shell, theme, screen):
    shell = start_shell(connect=False, theme=theme)
    SCREENS[screen](shell)
    shell.step(4)
    assert shell.app.palette.name == theme
    assert contrast_failures(shell.app.root) == []
    assert target_failures(shell.app.root) == []
    assert unlabelled_controls(shell.app.root) == []
    shell.screenshot(screen)


@pytest.mark.parametrize("screen", ["home", "lesson", "settings", "requests-write", "web",
                                    "web-blocked"])
def test_largest_text_still_fits_the_rules(start_shell, screen):
    shell = start_shell(connect=False)
    shell.app.set_text_scale(1.5)
    SCREENS[screen](shell)
    shell.step(4)
    assert contrast_failures(shell.app.root) == []
    assert target_failures(shell.app.root) == []
    shell.screenshot(f"{screen}-largest-text")


def show_starting(shell):
    """Before the agent has said anything."""


SCREENS["starting"] = show_starting


@pytest.mark.parametrize("scale", TEXT_SCALES)
@pytest.mark.parametrize("screen", sorted(SCREENS))
def test_every_screen_fits_its_words_at_every_text_size(start_shell, screen, scale):
    shell = start_shell(connect=False)
    shell.app.set_text_scale(scale)
    SCREENS[screen](shell)
    shell.step(6)
    assert clipped_labels(shell.app.root) == []
    tiles = [w for w in shell.app.root.walk() if type(w).__name__ == "Tile" and visible(w)]
    assert len({(round(t.width), round(t.height)) for t in tiles}) <= 1, "tiles of uneven sizes"


def test_the_clip_check_catches_text_too_big_for_its_box(start_shell):
    from kivy.uix.label import Label

    shell = start_shell(connect=False)
    show_settings(shell)
    shell.step()
    squeezed = Label(text="A sentence far too long for the box", size_hint=(None, None),
                     size=(40, 20))
    shell.app.root.ids.sm.current_screen.children[0].add_widget(squeezed)
    shell.step()
    assert any("far too long" in f for f in clipped_labels(shell.app.root))


@pytest.mark.parametrize("theme", sorted(PALETTES))
def test_the_update_progress_bar_is_drawn_in_the_themes_colours(start_shell, theme):
    from kivy.uix.progressbar import ProgressBar

    from tests.device.accessibility import background as drawn_on

    shell = start_shell(connect=False, theme=theme)
    show_updating(shell)
    shell.step(4)
    root = shell.app.root
    assert not [w for w in root.walk() if isinstance(w, ProgressBar)]  # Kivy's: a fixed image
    meter = next(w for w in root.walk() if type(w).__name__ == "Meter")
    assert meter.value == 62
    assert contrast_ratio(tuple(meter.fill_color), drawn_on(meter)) >= 3.0


def test_the_starting_screen_is_friendly_not_locked(start_shell):
    shell = start_shell(connect=False)
    shell.step(3)
    assert shell.screen() == "lock"
    words = [w.text for w in shell.app.root.walk() if getattr(w, "text", "").strip()]
    assert "The tablet is getting ready" in words and "Please wait a moment." in words
    assert not any("locked" in text.lower() or "not ready" in text.lower() for text in words)
    icons = [w.name for w in shell.app.root.walk() if type(w).__name__ == "Icon" and visible(w)]
    assert "sunrise" in icons and "lock" not in icons
    # still fail-closed: nothing to tap until the agent has answered
    assert [w for w in shell.app.root.walk() if type(w).__name__ == "Tile" and visible(w)] == []
    shell.screenshot("starting")


def test_the_checks_catch_faint_text_and_small_targets(start_shell):
    """The checks above can fail: faint text and a tiny button are reported."""
    from kivy.uix.button import Button

    shell = start_shell(connect=False)
    show_settings(shell)
    shell.step()
    label = next(w for w in shell.app.root.walk() if getattr(w, "text", "") == "Text size")
    label.color = shell.app.palette.bg
    tiny = Button(text="x", size_hint=(None, None), size=(20, 20))
    shell.app.root.ids.sm.current_screen.children[0].add_widget(tiny)
    shell.step()
    assert any("Text size" in f for f in contrast_failures(shell.app.root))
    assert any("20x20" in f for f in target_failures(shell.app.root))
