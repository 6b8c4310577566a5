"""Who may do what: the one table of rights a role carries, checked at the console's API (never by
hiding a button). Pure: no I/O, testable alone."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum

from common.staff_web.roles import Role


class Right(StrEnum):
    VIEW_WING = "view_wing"
    """The wing map, a tablet's page, the confirmation of a lock."""
    LOCK_CELL = "lock_cell"
    """Lock and unlock single tablets and cells."""
    LOCK_WIDE = "lock_wide"
    """Lock and unlock a landing or the whole wing; approve a lifted wing lockdown."""
    ANSWER_REQUESTS = "answer_requests"
    VIEW_AUDIT = "view_audit"
    CURFEW = "curfew"
    """Curfew exceptions."""
    WEB_GRANTS = "web_grants"
    WIPE = "wipe"
    """Ask for a tablet's remote wipe, and approve another person's request (two-person)."""
    ROLLOUTS = "rollouts"
    """Start, pause and cancel OS and app rollouts; see release status."""
    INVENTORY = "inventory"
    """Versions, slots and enrolment state of the wing's tablets."""
    ACCOUNTS = "accounts"
    """Add, disable and reset staff accounts."""
    VIEW_PRISONERS = "view_prisoners"
    """The prisoner list and a person's page (record, cell, lock-out, last sign-in)."""
    PRISONERS = "prisoners"
    """Change prisoner records: add, move, release, transfer, reset a PIN (a one-time code),
    import the roll. Security's: a reset hands out a credential and a move or release changes
    what reaches tablets; officers see the records, as they see the wing."""


RIGHTS: dict[Role, frozenset[Right]] = {
    Role.OFFICER: frozenset({Right.VIEW_WING, Right.LOCK_CELL, Right.ANSWER_REQUESTS,
                             Right.VIEW_PRISONERS}),
    Role.SECURITY: frozenset({Right.VIEW_WING, Right.LOCK_CELL, Right.LOCK_WIDE,
                              Right.ANSWER_REQUESTS, Right.VIEW_AUDIT, Right.CURFEW,
                              Right.WEB_GRANTS, Right.WIPE, Right.VIEW_PRISONERS,
                              Right.PRISONERS}),
    Role.IT: frozenset({Right.VIEW_WING, Right.ROLLOUTS, Right.INVENTORY}),
    Role.ADMIN: frozenset({Right.ACCOUNTS, Right.VIEW_AUDIT}),
}
"""The table: a role's rights. An account's rights are the union of its roles'."""


def rights_of(roles: Iterable[Role]) -> frozenset[Right]:
    granted: set[Right] = set()
    for role in roles:
        granted |= RIGHTS[role]
    return frozenset(granted)


def allowed(roles: Iterable[Role], right: Right) -> bool:
    return right in rights_of(roles)
