"""Kiosk rules: which keys the shell swallows so nothing a prisoner presses leaves it. Pure.

The shell's window never closes on request (Alt+F4, the window manager's close, Escape): the
Kivy side answers `on_request_close` with True and passes every key through `swallows`.
"""

from __future__ import annotations

from collections.abc import Iterable

ESCAPE = 27
TAB = 9
F1, F12 = 282, 293
BLOCKING_MODIFIERS = frozenset(
    {"ctrl", "alt", "meta", "super", "alt-gr", "lctrl", "rctrl", "lalt", "ralt", "lmeta", "rmeta"}
)

LONG_PRESS_S = 1.0
"""A press held longer than this is not a tap: it does nothing (no hidden long-press menus)."""


def swallows(key: int, modifiers: Iterable[str]) -> bool:
    """True for every key the shell must eat before Kivy's defaults see it.

    Escape (Kivy's default quits), the function keys (F1 opens Kivy's settings panel), and any
    chord with Ctrl, Alt or Meta (Alt+F4, Alt+Tab, Ctrl+C/Q/W, ...). Plain typing passes, so the
    Requests app's text box still works with a hardware keyboard.
    """
    if key == ESCAPE or F1 <= key <= F12:
        return True
    return any(m in BLOCKING_MODIFIERS for m in modifiers)
