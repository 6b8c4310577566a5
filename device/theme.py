"""Colour palettes and the WCAG contrast rule they are held to. Pure: no Kivy.

Every text colour is paired with the background it is drawn on; `contrast_ratio` is the WCAG 2
formula, and tests walk every screen's widgets in both themes to hold text to `MIN_CONTRAST`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

RGBA = tuple[float, float, float, float]

MIN_CONTRAST = 4.5
"""WCAG AA for normal text."""


def rgba(hex_colour: str) -> RGBA:
    """'#1F2933' -> (r, g, b, 1.0) in 0..1, as Kivy wants colours."""
    value = hex_colour.lstrip("#")
    r, g, b = (int(value[i : i + 2], 16) / 255 for i in (0, 2, 4))
    return (r, g, b, 1.0)


def relative_luminance(colour: RGBA) -> float:
    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in colour[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(fg: RGBA, bg: RGBA) -> float:
    """WCAG contrast ratio between two opaque colours, 1.0 to 21.0."""
    a, b = relative_luminance(fg), relative_luminance(bg)
    lighter, darker = max(a, b), min(a, b)
    return (lighter + 0.05) / (darker + 0.05)


@dataclass(frozen=True)
class Palette:
    """Surfaces and the text drawn on each (`X` and `X_text` are always used together)."""

    name: str
    bg: RGBA
    bg_text: RGBA
    tile: RGBA
    tile_text: RGBA
    tile_border: RGBA
    button: RGBA
    button_text: RGBA
    status: RGBA
    status_text: RGBA
    warning: RGBA
    warning_text: RGBA
    info: RGBA
    info_text: RGBA
    lock: RGBA
    lock_text: RGBA
    curfew: RGBA
    curfew_text: RGBA
    key: RGBA
    key_text: RGBA
    field: RGBA
    field_text: RGBA

    def pairs(self) -> dict[str, tuple[RGBA, RGBA]]:
        """Every (text, surface) pair the palette defines, by surface name."""
        names = [f.name for f in fields(self) if f.name != "name" and not f.name.endswith("_text")]
        return {
            n: (getattr(self, f"{n}_text"), getattr(self, n))
            for n in names
            if hasattr(self, f"{n}_text")
        }


STANDARD = Palette(
    name="standard",
    bg=rgba("#F4F1EA"),
    bg_text=rgba("#1F2933"),
    tile=rgba("#FFFFFF"),
    tile_text=rgba("#1F2933"),
    tile_border=rgba("#8A94A6"),
    button=rgba("#1D4E89"),
    button_text=rgba("#FFFFFF"),
    status=rgba("#1F2933"),
    status_text=rgba("#FFFFFF"),
    warning=rgba("#FFD166"),
    warning_text=rgba("#1F2933"),
    info=rgba("#D6E4F5"),
    info_text=rgba("#1F2933"),
    lock=rgba("#23395B"),
    lock_text=rgba("#FFFFFF"),
    curfew=rgba("#2E2A4F"),
    curfew_text=rgba("#F4F1EA"),
    key=rgba("#E3E7ED"),
    key_text=rgba("#1F2933"),
    field=rgba("#FFFFFF"),
    field_text=rgba("#1F2933"),
)

HIGH_CONTRAST = Palette(
    name="high_contrast",
    bg=rgba("#000000"),
    bg_text=rgba("#FFFFFF"),
    tile=rgba("#000000"),
    tile_text=rgba("#FFFF00"),
    tile_border=rgba("#FFFFFF"),
    button=rgba("#FFFF00"),
    button_text=rgba("#000000"),
    status=rgba("#000000"),
    status_text=rgba("#FFFFFF"),
    warning=rgba("#FFFF00"),
    warning_text=rgba("#000000"),
    info=rgba("#FFFFFF"),
    info_text=rgba("#000000"),
    lock=rgba("#000000"),
    lock_text=rgba("#FFFFFF"),
    curfew=rgba("#000000"),
    curfew_text=rgba("#FFFFFF"),
    key=rgba("#FFFFFF"),
    key_text=rgba("#000000"),
    field=rgba("#000000"),
    field_text=rgba("#FFFFFF"),
)

PALETTES = {p.name: p for p in (STANDARD, HIGH_CONTRAST)}
