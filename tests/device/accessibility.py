"""Checks over a live widget tree: text contrast against what it is drawn on, touch-target sizes,
and a label beside every icon-only control."""

from __future__ import annotations

from typing import Any

from device.theme import MIN_CONTRAST, contrast_ratio

MIN_TARGET_DP = 48
MIN_ICON_CONTRAST = 3.0  # WCAG 1.4.11 for graphical objects


def visible(widget: Any) -> bool:
    node = widget
    while node is not None and node is not node.parent:
        if getattr(node, "opacity", 1) == 0 or node.width <= 0 or node.height <= 0:
            return False
        node = node.parent
    return True


def background(widget: Any) -> tuple[float, float, float, float]:
    """The opaque colour painted behind `widget`: the nearest surface up the tree."""
    node = widget
    while node is not None:
        colour = getattr(node, "bg_color", None)
        if colour is not None and colour[3] == 1:
            return tuple(colour)  # type: ignore[return-value]
        node = node.parent
    raise AssertionError(f"{widget!r} is drawn on no opaque surface")


def contrast_failures(root: Any) -> list[str]:
    from kivy.uix.label import Label
    from kivy.uix.textinput import TextInput

    from device.ui.icons import Icon

    failures = []
    for w in root.walk(restrict=True):
        if not visible(w):
            continue
        if isinstance(w, Label) and w.text.strip():
            ratio = contrast_ratio(tuple(w.color), background(w))
            if ratio < MIN_CONTRAST:
                failures.append(f"text {w.text[:40]!r}: {ratio:.2f}:1")
        elif isinstance(w, TextInput):
            ratio = contrast_ratio(tuple(w.foreground_color), tuple(w.background_color))
            if ratio < MIN_CONTRAST:
                failures.append(f"text box: {ratio:.2f}:1")
        elif isinstance(w, Icon):
            ratio = contrast_ratio(tuple(w.color), background(w))
            if ratio < MIN_ICON_CONTRAST:
                failures.append(f"icon {w.name}: {ratio:.2f}:1")
    return failures


def target_failures(root: Any) -> list[str]:
    from kivy.metrics import dp
    from kivy.uix.behaviors import ButtonBehavior
    from kivy.uix.textinput import TextInput

    failures = []
    for w in root.walk(restrict=True):
        if not visible(w) or w.disabled:
            continue
        if isinstance(w, ButtonBehavior | TextInput) and (
            w.width < dp(MIN_TARGET_DP) - 0.5 or w.height < dp(MIN_TARGET_DP) - 0.5
        ):
            failures.append(
                f"{type(w).__name__} {getattr(w, 'text', '')[:30]!r}: "
                f"{w.width:.0f}x{w.height:.0f}px"
            )
    return failures


def unlabelled_controls(root: Any) -> list[str]:
    """Controls whose only content is an icon: every icon must come with words."""
    from kivy.uix.behaviors import ButtonBehavior
    from kivy.uix.label import Label

    failures = []
    for w in root.walk(restrict=True):
        if isinstance(w, ButtonBehavior) and visible(w):
            words = [
                c.text for c in w.walk(restrict=True) if isinstance(c, Label) and c.text.strip()
            ]
            if not words and not getattr(w, "text", "").strip():
                failures.append(f"{type(w).__name__} with icon {getattr(w, 'icon', '')!r}")
    return failures


def clipped_labels(root: Any, slack: float = 1.0) -> list[str]:
    """Labels whose drawn text (texture) is larger than the box laid out for it, or whose box
    reaches outside the window: at a large text size, words that are cut off or overlap."""
    from kivy.core.window import Window
    from kivy.uix.label import Label
    from kivy.uix.textinput import TextInput

    failures = []
    for w in root.walk(restrict=True):
        if isinstance(w, TextInput) and visible(w):
            line = w.line_height + w.padding[1] + w.padding[3]
            if w.height + slack < 2 * w.line_height + w.padding[1] + w.padding[3]:
                failures.append(f"text box: {w.height:.0f}px high, two lines need {line:.0f}+")
            continue
        if not (isinstance(w, Label) and w.text.strip() and visible(w)):
            continue
        w.texture_update()
        tw, th = w.texture_size
        if tw > w.width + slack or th > w.height + slack:
            failures.append(f"label {w.text[:30]!r}: text {tw:.0f}x{th:.0f} in a "
                            f"{w.width:.0f}x{w.height:.0f} box")
            continue
        if _scrolls(w):
            continue  # below the fold of a scrolling list: reached by scrolling, not cut off
        x, y = w.to_window(w.x, w.y)
        if x < -slack or y < -slack or x + w.width > Window.width + slack \
                or y + w.height > Window.height + slack:
            failures.append(f"label {w.text[:30]!r}: outside the window at ({x:.0f}, {y:.0f})")
    return failures


def _scrolls(widget: Any) -> bool:
    from kivy.uix.scrollview import ScrollView

    node = widget.parent
    while node is not None and node is not node.parent:
        if isinstance(node, ScrollView):
            return True
        node = node.parent
    return False
