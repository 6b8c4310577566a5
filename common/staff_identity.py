"""Who a member of staff is, as every two-person rule compares them: a verified identity is
`os:NAME` (the OS account a Unix socket or process reports) or `console:NAME` (a console
account), and the same NAME in any namespace counts as one person. An OS account and a console
account of one name are not trusted to be two people."""

from __future__ import annotations

import os
import pwd

BY_MAX = 120
"""The longest `by` a signed document carries (wire.documents.Name)."""


def same_person(one: str, other: str) -> bool:
    """Whether two identities (`os:alice`, `console:alice`, or a bare `alice`) may be one
    person."""
    def bare(who: str) -> str:
        return who.partition(":")[2].strip().casefold() if ":" in who else who.casefold()
    return bare(one) == bare(other)


def os_account(uid: int | None = None) -> str:
    """The name of the OS account `uid` (this process's by default), or `uid<N>` for a uid with
    no passwd entry."""
    uid = os.getuid() if uid is None else uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid{uid}"


def recorded_by(account: str, note: str | None) -> str:
    """What the audit and the signed documents record as who acted: the verified OS account, and
    the caller's own `--by` beside it when it says something else."""
    verified = f"os:{account}"
    if not note or note in (account, verified):
        return verified[:BY_MAX]
    text = f"{verified} ({note})"
    return text if len(text) <= BY_MAX else text[:BY_MAX - 2] + "…)"
