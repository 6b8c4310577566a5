"""`cellbridge staff`: what security staff type, a thin client of the gateway's API.

One module per command group: `lock` (lock, unlock), `status`, `audit`, `policy`, `requests`,
`rollout` (update). They share `client` (the API over the Unix socket, exit codes), `params`
(argument types and options) and `output` (lines, tables and JSON, stored text shown inert).

Exit codes: 0 done; 1 not every target confirmed within --wait (named on stderr), or the audit
chain does not verify; 2 usage error or refused input; 3 gateway unreachable or failing.
Every usage error is one `Error:` line on stderr, never a usage block or a traceback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import IO, Any

import click

from gateway.staff import account, audit, lock, policy, requests, rollout, status, web
from gateway.staff.output import say


class OneLineUsageError(click.UsageError):
    """A usage error shown as one inert line: no usage block, nothing echoed raw."""

    def show(self, file: IO[Any] | None = None) -> None:
        say(f"Error: {self.format_message()}", err=True)


@contextlib.contextmanager
def _one_line_usage_errors() -> Iterator[None]:
    try:
        yield
    except (OneLineUsageError, click.exceptions.NoArgsIsHelpError):
        raise
    except click.UsageError as exc:
        raise OneLineUsageError(exc.format_message()) from exc


class StaffGroup(click.Group):
    """The `staff` group: every usage error below it, in any sub-command, is one line."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        with _one_line_usage_errors():
            return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        with _one_line_usage_errors():
            return super().invoke(ctx)


@click.group(cls=StaffGroup)
def staff() -> None:
    """Security staff commands: lock, unlock, status, audit."""


COMMANDS: Sequence[click.Command] = (lock.lock, lock.unlock, status.status, audit.audit,
                                     rollout.update, policy.policy, requests.requests,
                                     account.account, web.web)
for command in COMMANDS:
    staff.add_command(command)

__all__ = ["staff"]
