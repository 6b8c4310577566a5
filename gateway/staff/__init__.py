"""`cellbridge staff`: what security staff type, a thin client of the gateway's API.

One module per command group: `lock` (lock, unlock), `status`, `audit`, `policy`, `requests`,
`rollout` (update), `jobs` (wipe, reboot, jobs), `prisoner`. They share `client` (the API
over the Unix socket, exit codes), `params` (argument types and options) and `output` (lines,
tables and JSON, stored text shown inert).

Exit codes: 0 done; 1 not every target confirmed within --wait (named on stderr), an unlock a
lockdown overrides under --wait, or the audit chain does not verify; 2 usage error, refused input
or a name the wing does not have; 3 gateway unreachable or failing.
Every error is one `Error:` line on stderr, never a usage block or a traceback; a `Warning:` line
(exit 0) says what a change could not do. Every command takes `--json` (docs/staff-cli.md).
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from common.cli import OneLineGroup
from gateway.staff import (
    account,
    audit,
    jobs,
    lock,
    policy,
    prisoner,
    requests,
    rollout,
    status,
    web,
)


class StaffGroup(OneLineGroup):
    """The `staff` group: every usage error below it, in any sub-command, is one line."""


@click.group(cls=StaffGroup)
def staff() -> None:
    """Security staff commands: lock, unlock, status, policy and curfew, requests, updates,
    prisoners, audit."""


COMMANDS: Sequence[click.Command] = (lock.lock, lock.unlock, status.status, audit.audit,
                                     rollout.update, policy.policy, requests.requests,
                                     account.account, web.web, jobs.wipe, jobs.reboot,
                                     jobs.jobs, prisoner.prisoner)
for command in COMMANDS:
    staff.add_command(command)

__all__ = ["staff"]
