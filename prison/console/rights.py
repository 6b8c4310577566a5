"""Who may do what in the prison console: the one table, checked at its API. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from common.staff_web.roles import Role


class Right(StrEnum):
    VIEW_PRISON = "view_prison"
    """The prison view, a wing's tablets, a command's confirmations, what waits for approval."""
    LOCKDOWN = "lockdown"
    """Lock every wing (a prison-wide lockdown); ask to lift it, and approve another person's
    request to lift it (two-person)."""
    VIEW_EVENTS = "view_events"
    """What the console's accounts did (sign-ins, lockdowns, lift requests and approvals)."""


RIGHTS: dict[Role, frozenset[Right]] = {
    Role.OFFICER: frozenset({Right.VIEW_PRISON}),
    Role.SECURITY: frozenset({Right.VIEW_PRISON, Right.LOCKDOWN, Right.VIEW_EVENTS}),
    Role.IT: frozenset({Right.VIEW_PRISON}),
    Role.ADMIN: frozenset({Right.VIEW_EVENTS}),
}
"""The table: a role's rights. An account's rights are the union of its roles'."""


def rights_of(roles: Iterable[Role]) -> frozenset[Right]:
    granted: set[Right] = set()
    for role in roles:
        granted |= RIGHTS[role]
    return frozenset(granted)
