"""What staff commands print: the one way to show a line, a table or JSON to staff.

Every line for a person goes through `common.text.inert`, whole: request bodies, lock reasons,
`--by` names and the gateway's error messages are stored exactly as received, but none of them can
steer the staff member's terminal or break a line or a table row. `--json` output is `json.dumps`
(every control and non-ASCII character escaped), so it stays valid JSON with the text as stored.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click
from tabulate import tabulate

from common.text import inert


def say(line: str = "", *, err: bool = False) -> None:
    """Print one line for a person (to stderr with `err`); a newline inside it is shown as `\\n`."""
    click.echo(inert(line), err=err)


def say_lines(text: str) -> None:
    """Print a multi-line text (a TOML file, say) line by line, each line made inert."""
    for line in text.removesuffix("\n").split("\n"):
        say(line)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Print a header line (upper case, as every staff table has it), then one line per row, in
    aligned columns; every cell made inert."""
    cells = [[inert(cell) for cell in row] for row in rows]
    text = tabulate(cells, headers=[h.upper() for h in headers], tablefmt="plain",
                    disable_numparse=True)
    say_lines(text)


def show_json(data: Any) -> None:
    """Print `data` as indented JSON: what scripts read instead of the tables."""
    click.echo(json.dumps(data, indent=2))


def short(text: str, width: int) -> str:
    """`text` made inert and cut to `width` characters, an ellipsis marking the cut."""
    shown = inert(text)
    return shown if len(shown) <= width else shown[: width - 1] + "…"
