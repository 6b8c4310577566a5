"""`inert`: whatever a tablet or a person typed, what reaches a screen cannot steer the terminal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.text import inert

ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()))
PRINTABLE = st.text().filter(str.isprintable)


@given(ANY_TEXT)
def test_the_result_is_always_printable(text: str) -> None:
    shown = inert(text)
    assert shown.isprintable()
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in shown)


@given(PRINTABLE)
def test_printable_text_is_shown_unchanged(text: str) -> None:
    assert inert(text) == text


@given(ANY_TEXT)
def test_showing_twice_is_showing_once(text: str) -> None:
    assert inert(inert(text)) == inert(text)


@given(ANY_TEXT, ANY_TEXT)
def test_it_escapes_one_character_at_a_time(a: str, b: str) -> None:
    assert inert(a + b) == inert(a) + inert(b)


@pytest.mark.parametrize(("text", "shown"), [
    ("\x1b]0;pwned\x07", "\\x1b]0;pwned\\x07"),  # OSC: retitle the terminal, then bell
    ("\x1b[2J\x1b[H", "\\x1b[2J\\x1b[H"),  # CSI: clear the screen
    ("ok\rLOCKED", "ok\\rLOCKED"),  # overprint the line
    ("line\nforged line", "line\\nforged line"),
    ("a\tb", "a\\tb"),
    ("\x7f\x9b31m", "\\x7f\\x9b31m"),  # DEL, and C1 CSI
    ("\u202egnp.exe", "\\u202egnp.exe"),  # right-to-left override
    ("zero\u200bwidth\u2028sep", "zero\\u200bwidth\\u2028sep"),
    ("\udcff", "\\udcff"),  # a byte that was not UTF-8, surrogate-escaped
    ("\U000e0041", "\\U000e0041"),  # a tag character
    ("Cell search — 2pm, café 中 \\x1b", "Cell search — 2pm, café 中 \\x1b"),
])
def test_named_hostile_characters_are_shown_as_visible_escapes(text: str, shown: str) -> None:
    assert inert(text) == shown
