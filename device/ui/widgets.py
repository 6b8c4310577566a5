"""The shell's building blocks. Their look lives in kv/base.kv; here only behaviour.

Every surface that draws a background says so in `bg_color`, so tests can check each label's
contrast against what it is drawn on.
"""

from __future__ import annotations

from typing import Any

from kivy.properties import ColorProperty, NumericProperty, StringProperty
from kivy.uix.behaviors import ButtonBehavior
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.label import Label
from kivy.uix.widget import Widget

from device.kiosk import LONG_PRESS_S


class Surface(BoxLayout):
    """A box that paints `bg_color` behind its children."""

    bg_color = ColorProperty((0, 0, 0, 0))


class Body(Label):
    """Wrapping text that grows to its content's height."""


class Pressable(ButtonBehavior, Surface):
    """Something to tap. A press held longer than LONG_PRESS_S does nothing."""

    icon = StringProperty("")
    text = StringProperty("")
    fg_color = ColorProperty((1, 1, 1, 1))
    action = StringProperty("")
    """Free-form tag the owning screen reads in its on_release handler."""

    def on_touch_up(self, touch: Any) -> bool:
        if touch.grab_current is self and touch.time_update - touch.time_start > LONG_PRESS_S:
            touch.ungrab(self)
            self.state = "normal"
            return True
        return bool(super().on_touch_up(touch))


class ShellButton(Pressable):
    """A labelled button with an icon beside its label."""


class Tile(Pressable):
    """A large home-screen tile: icon above its label."""


class KeyButton(Pressable):
    """One key of the on-screen keyboard: it grows with the text size setting like every word
    on screen."""


class Meter(Widget):
    """A progress bar in the theme's colours (Kivy's ProgressBar is a fixed image that vanishes
    in high contrast): `value` of 100, drawn as an outline and a fill in `fill_color`."""

    value = NumericProperty(0)
    fill_color = ColorProperty((1, 1, 1, 1))
