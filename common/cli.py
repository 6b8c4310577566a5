"""The one style of every `cellbridge` command's usage errors: one inert `Error:` line on stderr
and exit code 2 — never a usage block, a validation dump or a traceback. A group of this class
applies it to every sub-command below it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import IO, Any

import click

from common.text import inert


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


class OneLineGroup(click.Group):
    """A group whose every usage error, in any sub-command below it, is one line."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        with one_line_usage_errors():
            return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        with one_line_usage_errors():
            return super().invoke(ctx)
