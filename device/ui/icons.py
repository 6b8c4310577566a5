"""The shell's icons, drawn with Kivy canvas instructions: no image files, sharp at any size, and
recoloured by the theme. Every icon is shown beside a label (icons help, words carry meaning)."""

from __future__ import annotations

import math
from collections.abc import Callable

from kivy.graphics import Color, Ellipse, Line, Mesh, Rectangle, RoundedRectangle, Triangle
from kivy.properties import ColorProperty, StringProperty
from kivy.uix.widget import Widget

Draw = Callable[[float, float, float], None]
"""Draws into the current canvas in a unit box: (x, y) bottom-left and s the side."""


def _lock(x: float, y: float, s: float) -> None:
    RoundedRectangle(pos=(x + 0.18 * s, y + 0.08 * s), size=(0.64 * s, 0.48 * s), radius=[0.06 * s])
    Line(
        ellipse=(x + 0.3 * s, y + 0.38 * s, 0.4 * s, 0.5 * s, -90, 90),
        width=max(1.0, 0.06 * s),
    )


def _moon(x: float, y: float, s: float) -> None:
    # A crescent: a triangle strip between an outer arc and an inner arc sharing their ends.
    cx, cy, r = x + 0.45 * s, y + 0.5 * s, 0.4 * s
    vertices: list[float] = []
    steps = 24
    for i in range(steps + 1):
        t = i / steps
        outer = math.radians(60 + 240 * t)
        inner = math.radians(80.2 + 199.6 * t)
        vertices += [cx + r * math.cos(outer), cy + r * math.sin(outer), 0, 0]
        vertices += [
            cx + r * (0.35 + 0.879 * math.cos(inner)),
            cy + r * 0.879 * math.sin(inner),
            0,
            0,
        ]
    Mesh(vertices=vertices, indices=list(range(len(vertices) // 4)), mode="triangle_strip")


def _book(x: float, y: float, s: float) -> None:
    w = max(1.0, 0.05 * s)
    Line(points=[x + 0.5 * s, y + 0.15 * s, x + 0.5 * s, y + 0.8 * s], width=w)
    Line(
        points=[
            x + 0.5 * s,
            y + 0.8 * s,
            x + 0.1 * s,
            y + 0.85 * s,
            x + 0.1 * s,
            y + 0.2 * s,
            x + 0.5 * s,
            y + 0.15 * s,
            x + 0.9 * s,
            y + 0.2 * s,
            x + 0.9 * s,
            y + 0.85 * s,
            x + 0.5 * s,
            y + 0.8 * s,
        ],
        width=w,
    )


def _envelope(x: float, y: float, s: float) -> None:
    w = max(1.0, 0.05 * s)
    Line(rectangle=(x + 0.1 * s, y + 0.22 * s, 0.8 * s, 0.56 * s), width=w)
    Line(
        points=[x + 0.1 * s, y + 0.78 * s, x + 0.5 * s, y + 0.45 * s, x + 0.9 * s, y + 0.78 * s],
        width=w,
    )


def _help(x: float, y: float, s: float) -> None:
    w = max(1.0, 0.07 * s)
    Line(circle=(x + 0.5 * s, y + 0.62 * s, 0.18 * s, -90, 150), width=w)
    Line(points=[x + 0.5 * s, y + 0.44 * s, x + 0.5 * s, y + 0.32 * s], width=w)
    Ellipse(pos=(x + 0.44 * s, y + 0.1 * s), size=(0.12 * s, 0.12 * s))


def _globe(x: float, y: float, s: float) -> None:
    """The Web app: a globe with its meridian and equator."""
    w = max(1.0, 0.06 * s)
    cx, cy, r = x + 0.5 * s, y + 0.5 * s, 0.38 * s
    Line(circle=(cx, cy, r), width=w)
    Line(ellipse=(cx - 0.16 * s, cy - r, 0.32 * s, 2 * r), width=w)
    Line(points=[cx - r, cy, cx + r, cy], width=w)
    Line(points=[cx, cy - r, cx, cy + r], width=w)


def _home(x: float, y: float, s: float) -> None:
    Triangle(points=[x + 0.1 * s, y + 0.5 * s, x + 0.5 * s, y + 0.9 * s, x + 0.9 * s, y + 0.5 * s])
    Rectangle(pos=(x + 0.22 * s, y + 0.1 * s), size=(0.56 * s, 0.42 * s))


def _back(x: float, y: float, s: float) -> None:
    w = max(1.0, 0.08 * s)
    Line(
        points=[x + 0.55 * s, y + 0.8 * s, x + 0.25 * s, y + 0.5 * s, x + 0.55 * s, y + 0.2 * s],
        width=w,
    )
    Line(points=[x + 0.25 * s, y + 0.5 * s, x + 0.85 * s, y + 0.5 * s], width=w)


def _next(x: float, y: float, s: float) -> None:
    w = max(1.0, 0.08 * s)
    Line(
        points=[x + 0.45 * s, y + 0.8 * s, x + 0.75 * s, y + 0.5 * s, x + 0.45 * s, y + 0.2 * s],
        width=w,
    )
    Line(points=[x + 0.15 * s, y + 0.5 * s, x + 0.75 * s, y + 0.5 * s], width=w)


def _tick(x: float, y: float, s: float) -> None:
    Line(
        points=[x + 0.15 * s, y + 0.5 * s, x + 0.4 * s, y + 0.22 * s, x + 0.85 * s, y + 0.8 * s],
        width=max(1.0, 0.09 * s),
    )


def _warning(x: float, y: float, s: float) -> None:
    w = max(1.0, 0.06 * s)
    Line(
        points=[x + 0.5 * s, y + 0.9 * s, x + 0.08 * s, y + 0.12 * s, x + 0.92 * s, y + 0.12 * s],
        close=True,
        width=w,
    )
    Line(points=[x + 0.5 * s, y + 0.65 * s, x + 0.5 * s, y + 0.38 * s], width=w)
    Ellipse(pos=(x + 0.46 * s, y + 0.2 * s), size=(0.08 * s, 0.08 * s))


def _update(x: float, y: float, s: float) -> None:
    w = max(1.0, 0.07 * s)
    Line(circle=(x + 0.5 * s, y + 0.5 * s, 0.32 * s, 30, 330), width=w)
    Triangle(
        points=[x + 0.5 * s, y + 0.92 * s, x + 0.5 * s, y + 0.72 * s, x + 0.68 * s, y + 0.82 * s]
    )


def _phone(x: float, y: float, s: float) -> None:
    w = max(1.0, 0.06 * s)
    Line(rounded_rectangle=(x + 0.28 * s, y + 0.08 * s, 0.44 * s, 0.84 * s, 0.08 * s), width=w)
    Ellipse(pos=(x + 0.45 * s, y + 0.14 * s), size=(0.1 * s, 0.1 * s))


def _app(x: float, y: float, s: float) -> None:
    for dx in (0.14, 0.54):
        for dy in (0.14, 0.54):
            RoundedRectangle(
                pos=(x + dx * s, y + dy * s), size=(0.32 * s, 0.32 * s), radius=[0.06 * s]
            )


def _linked(x: float, y: float, s: float) -> None:
    w = max(1.0, 0.06 * s)
    for r in (0.18, 0.34, 0.5):
        Line(circle=(x + 0.5 * s, y + 0.1 * s, r * s, -45, 45), width=w)
    Ellipse(pos=(x + 0.44 * s, y + 0.06 * s), size=(0.12 * s, 0.12 * s))


def _unlinked(x: float, y: float, s: float) -> None:
    _linked(x, y, s)
    Line(points=[x + 0.15 * s, y + 0.85 * s, x + 0.85 * s, y + 0.1 * s], width=max(1.0, 0.07 * s))


def _gear(x: float, y: float, s: float) -> None:
    w = max(1.0, 0.07 * s)
    Line(circle=(x + 0.5 * s, y + 0.5 * s, 0.22 * s), width=w)
    for dx, dy in (
        (0, 1),
        (1, 0),
        (0, -1),
        (-1, 0),
        (0.7, 0.7),
        (-0.7, 0.7),
        (0.7, -0.7),
        (-0.7, -0.7),
    ):
        Line(
            points=[
                x + (0.5 + 0.28 * dx) * s,
                y + (0.5 + 0.28 * dy) * s,
                x + (0.5 + 0.4 * dx) * s,
                y + (0.5 + 0.4 * dy) * s,
            ],
            width=w,
        )


def _keyboard(x: float, y: float, s: float) -> None:
    Line(rectangle=(x + 0.08 * s, y + 0.25 * s, 0.84 * s, 0.5 * s), width=max(1.0, 0.05 * s))
    for row, dy in enumerate((0.58, 0.44)):
        for i in range(5 - row):
            Rectangle(
                pos=(x + (0.16 + 0.14 * i + 0.07 * row) * s, y + dy * s), size=(0.08 * s, 0.08 * s)
            )
    Rectangle(pos=(x + 0.3 * s, y + 0.31 * s), size=(0.4 * s, 0.07 * s))


def _scales(x: float, y: float, s: float) -> None:
    w = max(1.0, 0.06 * s)
    Line(points=[x + 0.5 * s, y + 0.15 * s, x + 0.5 * s, y + 0.85 * s], width=w)
    Line(points=[x + 0.3 * s, y + 0.15 * s, x + 0.7 * s, y + 0.15 * s], width=w)
    Line(points=[x + 0.15 * s, y + 0.75 * s, x + 0.85 * s, y + 0.75 * s], width=w)
    for cx in (0.22, 0.78):
        Line(points=[x + cx * s, y + 0.75 * s, x + (cx - 0.1) * s, y + 0.45 * s], width=w)
        Line(points=[x + cx * s, y + 0.75 * s, x + (cx + 0.1) * s, y + 0.45 * s], width=w)
        Line(ellipse=(x + (cx - 0.13) * s, y + 0.36 * s, 0.26 * s, 0.18 * s, 90, 270), width=w)


def _basket(x: float, y: float, s: float) -> None:
    w = max(1.0, 0.06 * s)
    Line(points=[x + 0.08 * s, y + 0.55 * s, x + 0.92 * s, y + 0.55 * s], width=w)
    Line(points=[x + 0.14 * s, y + 0.55 * s, x + 0.24 * s, y + 0.12 * s, x + 0.76 * s,
                 y + 0.12 * s, x + 0.86 * s, y + 0.55 * s], width=w)
    Line(ellipse=(x + 0.28 * s, y + 0.4 * s, 0.44 * s, 0.5 * s, -90, 90), width=w)
    for cx in (0.38, 0.5, 0.62):
        Line(points=[x + cx * s, y + 0.2 * s, x + cx * s, y + 0.47 * s], width=w * 0.7)


def _music(x: float, y: float, s: float) -> None:
    w = max(1.0, 0.06 * s)
    Ellipse(pos=(x + 0.12 * s, y + 0.12 * s), size=(0.26 * s, 0.2 * s))
    Ellipse(pos=(x + 0.56 * s, y + 0.22 * s), size=(0.26 * s, 0.2 * s))
    Line(points=[x + 0.36 * s, y + 0.22 * s, x + 0.36 * s, y + 0.82 * s], width=w)
    Line(points=[x + 0.8 * s, y + 0.32 * s, x + 0.8 * s, y + 0.92 * s], width=w)
    Line(points=[x + 0.36 * s, y + 0.82 * s, x + 0.8 * s, y + 0.92 * s], width=w * 2)


def _puzzle(x: float, y: float, s: float) -> None:
    # A jigsaw piece: a square with a knob on top and on the right.
    Rectangle(pos=(x + 0.12 * s, y + 0.12 * s), size=(0.56 * s, 0.56 * s))
    Ellipse(pos=(x + 0.29 * s, y + 0.6 * s), size=(0.22 * s, 0.22 * s))
    Ellipse(pos=(x + 0.6 * s, y + 0.29 * s), size=(0.22 * s, 0.22 * s))


def _briefcase(x: float, y: float, s: float) -> None:
    w = max(1.0, 0.06 * s)
    RoundedRectangle(pos=(x + 0.08 * s, y + 0.15 * s), size=(0.84 * s, 0.52 * s),
                     radius=[0.06 * s])
    Line(rounded_rectangle=(x + 0.34 * s, y + 0.64 * s, 0.32 * s, 0.18 * s, 0.04 * s), width=w)


def _cross(x: float, y: float, s: float) -> None:
    """Healthcare: the medical cross."""
    Rectangle(pos=(x + 0.38 * s, y + 0.12 * s), size=(0.24 * s, 0.76 * s))
    Rectangle(pos=(x + 0.12 * s, y + 0.38 * s), size=(0.76 * s, 0.24 * s))


def _screen(x: float, y: float, s: float) -> None:
    """Digital skills: a computer screen on its stand."""
    w = max(1.0, 0.06 * s)
    Line(rounded_rectangle=(x + 0.1 * s, y + 0.32 * s, 0.8 * s, 0.52 * s, 0.04 * s), width=w)
    Line(points=[x + 0.5 * s, y + 0.32 * s, x + 0.5 * s, y + 0.18 * s], width=w)
    Line(points=[x + 0.3 * s, y + 0.16 * s, x + 0.7 * s, y + 0.16 * s], width=w)
    Line(points=[x + 0.22 * s, y + 0.48 * s, x + 0.4 * s, y + 0.66 * s, x + 0.52 * s, y + 0.54 * s,
                 x + 0.7 * s, y + 0.72 * s], width=w * 0.8)


def _people(x: float, y: float, s: float) -> None:
    """Visits: two people side by side."""
    for cx, r in ((0.34, 0.13), (0.68, 0.11)):
        Ellipse(pos=(x + (cx - r) * s, y + 0.62 * s), size=(2 * r * s, 2 * r * s))
        Ellipse(pos=(x + (cx - r * 1.6) * s, y + 0.1 * s), size=(3.2 * r * s, 0.95 * s * r * 4),
                angle_start=-90, angle_end=90)


def _sunrise(x: float, y: float, s: float) -> None:
    """Starting up: a friendly sun coming up over the horizon."""
    w = max(1.0, 0.06 * s)
    Ellipse(pos=(x + 0.3 * s, y + 0.1 * s), size=(0.4 * s, 0.4 * s), angle_start=-90,
            angle_end=90)
    Line(points=[x + 0.05 * s, y + 0.3 * s, x + 0.95 * s, y + 0.3 * s], width=w)
    for degrees in (0, 30, 60, 90, 120, 150, 180):
        a = math.radians(degrees)
        Line(points=[x + (0.5 + 0.28 * math.cos(a)) * s, y + (0.3 + 0.28 * math.sin(a)) * s,
                     x + (0.5 + 0.42 * math.cos(a)) * s, y + (0.3 + 0.42 * math.sin(a)) * s],
             width=w)


ICONS: dict[str, Draw] = {
    "scales": _scales,
    "lock": _lock,
    "moon": _moon,
    "book": _book,
    "envelope": _envelope,
    "help": _help,
    "home": _home,
    "globe": _globe,
    "back": _back,
    "next": _next,
    "tick": _tick,
    "warning": _warning,
    "update": _update,
    "phone": _phone,
    "app": _app,
    "linked": _linked,
    "unlinked": _unlinked,
    "gear": _gear,
    "keyboard": _keyboard,
    "basket": _basket,
    "music": _music,
    "puzzle": _puzzle,
    "briefcase": _briefcase,
    "cross": _cross,
    "screen": _screen,
    "people": _people,
    "sunrise": _sunrise,
}


FALLBACK = "app"
"""What an icon name the shell does not draw shows (policy checks refuse such names)."""


def drawing(name: str) -> Draw:
    """How the icon called `name` is drawn: its own picture, else the generic app's."""
    return ICONS.get(name, ICONS[FALLBACK])


class Icon(Widget):
    """A square icon centred in the widget, in `color`; an unknown name draws the generic app."""

    name = StringProperty("app")
    color = ColorProperty((0, 0, 0, 1))

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.fbind("pos", self._redraw)
        self.fbind("size", self._redraw)
        self.fbind("name", self._redraw)
        self.fbind("color", self._redraw)
        self._redraw()

    def _redraw(self, *_args: object) -> None:
        side = min(self.width, self.height)
        x = self.x + (self.width - side) / 2
        y = self.y + (self.height - side) / 2
        self.canvas.clear()
        with self.canvas:
            Color(rgba=self.color)
            drawing(self.name)(x, y, side)
