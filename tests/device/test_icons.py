"""Every app has its own picture: people who read little find an app by its icon, so no two apps
the project ships (the shell's own and the example wing catalogue's) look alike, none shows the
generic picture, and every icon a wing policy may name is one the shell draws."""

from __future__ import annotations

import hashlib
import tomllib
from pathlib import Path

import pytest

from device.requests import REQUEST_TYPES
from wire.icons import ICON_NAMES

pytestmark = pytest.mark.gui

EXAMPLE = Path(__file__).resolve().parents[2] / "gateway" / "policies" / "example.toml"


def shipped_apps() -> dict[str, str]:
    """app -> the icon it names: the shell's own apps and the example catalogue's."""
    from device.ui.screens import BUILTIN_APPS

    catalogue = tomllib.loads(EXAMPLE.read_text())["apps"]
    return {screen: icon for screen, _, icon in BUILTIN_APPS} | {
        app_id: app.get("icon", "") for app_id, app in catalogue.items()}


def picture(name: str, side: int = 64) -> bytes:
    """The pixels of icon `name` as the shell draws it (black on white)."""
    from kivy.graphics import Color as Colour
    from kivy.graphics import Fbo, Rectangle

    from device.ui.icons import drawing

    fbo = Fbo(size=(side, side))
    with fbo:
        Colour(1, 1, 1, 1)
        Rectangle(pos=(0, 0), size=(side, side))
        Colour(0, 0, 0, 1)
        drawing(name)(0, 0, side)
    fbo.draw()
    return bytes(fbo.pixels)


def test_the_shell_draws_exactly_the_icons_a_policy_may_name(kivy_window):
    from device.ui.icons import ICONS

    assert set(ICONS) == ICON_NAMES


def test_no_two_shipped_apps_look_alike_and_none_is_the_generic_picture(kivy_window):
    from device.ui.icons import FALLBACK

    digests: dict[str, list[str]] = {}
    for app, icon in shipped_apps().items():
        digests.setdefault(hashlib.sha256(picture(icon)).hexdigest(), []).append(app)
    alike = [apps for apps in digests.values() if len(apps) > 1]
    assert alike == []
    generic = hashlib.sha256(picture(FALLBACK)).hexdigest()
    assert digests.get(generic) is None, f"{digests.get(generic)} show the generic picture"


def test_the_check_catches_two_apps_sharing_a_picture(kivy_window):
    assert picture("no-such-icon") == picture("app")
    assert picture("book") != picture("screen")


def test_request_forms_each_have_their_own_icon():
    icons = [icon for _, _, icon in REQUEST_TYPES]
    assert len(set(icons)) == len(icons), icons
    assert "help" not in icons  # a question mark says "help", not "healthcare"


def test_every_icon_draws_something_different(kivy_window):
    """Two names drawn alike would be one picture: each icon's pixels differ from every other's."""
    from device.ui.icons import ICONS

    pictures = {}
    for name in ICONS:
        pixels = picture(name)
        assert pixels.count(0) > 200, f"{name} draws (almost) nothing"
        pictures[name] = pixels
    same = [(a, b) for a in pictures for b in pictures if a < b and pictures[a] == pictures[b]]
    assert same == []
