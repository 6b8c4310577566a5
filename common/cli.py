"""The one style of every `cellbridge` command group: usage errors are one inert `Error:` line on
stderr and exit code 2 — never a usage block, a validation dump or a traceback — and `--help`
lists each sub-command with its whole first sentence, wrapped, never cut off with "...". A group
of this class applies both to every sub-command below it."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import IO, Any

import click

from common.text import inert


class Pattern(click.ParamType):
    """Text that must match `pattern`; a mismatch says what was given and what is expected, in
    click's own one-line `Invalid value for '--option'` form, never a validation dump."""

    def __init__(self, name: str, pattern: str, expected: str) -> None:
        self.name, self.pattern, self.expected = name, re.compile(pattern), expected

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        text = str(value)
        if not self.pattern.fullmatch(text):
            self.fail(f"{text!r} is not {self.expected}", param, ctx)
        return text


class OneLineUsageError(click.UsageError):
    """A usage error shown as one inert line: no usage block, nothing echoed raw."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(inert(f"Error: {self.format_message()}"), err=True)


@contextlib.contextmanager
def one_line_usage_errors() -> Iterator[None]:
    """Turn any click usage error raised inside into a `OneLineUsageError` (`--help` and a
    bare group's help stay as they are)."""
    try:
        yield
    except (OneLineUsageError, click.exceptions.NoArgsIsHelpError):
        raise
    except click.UsageError as exc:
        raise OneLineUsageError(exc.format_message()) from exc


FULL = 10_000
"""A short-help limit no first sentence reaches: click's default cuts at the terminal width."""


def short_help(command: click.Command) -> str:
    """`command`'s help as a group lists it: its first sentence, whole."""
    return command.get_short_help_str(FULL)


class OneLineGroup(click.Group):
    """A group whose every usage error, in any sub-command below it, is one line, and whose
    sub-commands' help is listed whole."""

    group_class = type  # sub-groups made with @group.group() are of this class too

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, short_help(command)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        with one_line_usage_errors():
            return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        with one_line_usage_errors():
            return super().invoke(ctx)
