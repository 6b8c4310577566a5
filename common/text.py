"""Text from tablets and from the people typing shown on a terminal or a page as inert characters.

A request body, a lock reason, a staff member's `--by`: stored exactly as received, but shown to a
person only after `inert`, so an escape sequence cannot retitle, clear or rewrite their terminal, a
carriage return cannot overprint a line, and a bidi override cannot reverse what they read.
"""

from __future__ import annotations

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(char: str) -> str:
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def inert(text: str) -> str:
    """`text` with every character that is not printable (`str.isprintable`: C0, DEL, C1,
    format characters such as U+202E, separators, surrogates, unassigned code points) written as
    a visible escape (`\\x1b`, `\\r`, `\\u202e`); printable text, the space included, unchanged.

    The result is always printable, and `inert(inert(t)) == inert(t)` (a backslash is printable).
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)
