"""Every app has its own picture: people who read little find an app by its icon, so no two tiles
on a screen share one, and every icon a wing policy may name is one the shell draws."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from device.requests import REQUEST_TYPES
from wire.icons import ICON_NAMES

pytestmark = pytest.mark.gui

EXAMPLE = Path(__file__).resolve().parents[2] / "gateway" / "policies" / "example.toml"


def test_the_shell_draws_exactly_the_icons_a_policy_may_name(kivy_window):
    from device.ui.icons import ICONS

    assert set(ICONS) == ICON_NAMES


def test_home_tiles_each_have_their_own_icon(kivy_window):
    from device.ui.screens import BUILTIN_APPS

    catalogue = tomllib.loads(EXAMPLE.read_text())["apps"]
    icons = [icon for _, _, icon in BUILTIN_APPS] + [app["icon"] for app in catalogue.values()]
    assert len(set(icons)) == len(icons), sorted(icons)
    assert set(icons) <= ICON_NAMES


def test_request_forms_each_have_their_own_icon():
    icons = [icon for _, _, icon in REQUEST_TYPES]
    assert len(set(icons)) == len(icons), icons
    assert "help" not in icons  # a question mark says "help", not "healthcare"


def test_every_icon_draws_something_different(start_shell):
    """Two names drawn alike would be one picture: each icon's pixels differ from every other's."""
    from kivy.graphics import Color as Colour
    from kivy.graphics import Fbo, Rectangle

    from device.ui.icons import ICONS

    start_shell(connect=False)
    pictures = {}
    for name, draw in ICONS.items():
        fbo = Fbo(size=(64, 64))
        with fbo:
            Colour(1, 1, 1, 1)
            Rectangle(pos=(0, 0), size=(64, 64))
            Colour(0, 0, 0, 1)
            draw(0, 0, 64)
        fbo.draw()
        pixels = bytes(fbo.pixels)
        assert pixels.count(0) > 200, f"{name} draws (almost) nothing"
        pictures[name] = pixels
    same = [(a, b) for a in pictures for b in pictures if a < b and pictures[a] == pictures[b]]
    assert same == []
