"""The staff roles every console knows, and which of them sign in only with a second factor. What
a role may do is each console's own table of rights (gateway/console/rights.py,
prison/console/rights.py)."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Role(StrEnum):
    OFFICER = "officer"
    SECURITY = "security"
    IT = "it"
    ADMIN = "admin"


NEEDS_TOTP: frozenset[Role] = frozenset({Role.SECURITY, Role.ADMIN})
"""Roles that may sign in only with a second factor."""


def needs_totp(roles: Iterable[Role]) -> bool:
    return any(role in NEEDS_TOTP for role in roles)


def parse_roles(text: str) -> frozenset[Role]:
    """`officer,security` → the roles; ValueError naming an unknown one."""
    roles = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            roles.add(Role(part))
        except ValueError:
            known = ", ".join(r.value for r in Role)
            raise ValueError(f"unknown role {part!r} (known: {known})") from None
    if not roles:
        raise ValueError("give at least one role")
    return frozenset(roles)
