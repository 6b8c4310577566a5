"""Lifting a prison-wide lockdown needs two people, as lifting a wing lockdown does at the wing:
`prison unlock` only records a request; a second, different OS account approves it within 10
minutes (`prison unlock approve ID`), and only then is the unlock signed (naming both) and sent.
A request not approved in time lapses and can never be carried out later.

Kept in the prison store (both backends), so the CLI runs that ask and approve are separate
processes, possibly on separate hosts of one PostgreSQL store. An approval claims the request
with one conditional update, so two approvers at once cannot both issue it.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass

from common.staff_identity import same_person
from prison.store import Command, PrisonStore

APPROVE_WITHIN_MS = 10 * 60 * 1000
SUPERSEDED = "superseded"
"""`answered_by` of a request a newer one replaced (one request waits at a time)."""


class LiftError(ValueError):
    """The approval cannot be given: unknown, answered, lapsed, or the same person twice."""


@dataclass(frozen=True, slots=True)
class LiftRequest:
    id: str
    reason: str
    requested_by: str
    requested_at: int
    answered_by: str
    """'' while it waits; the approver, or `superseded`."""
    answered_at: int
    command_version: int
    """The unlock command the approval issued (0 until then)."""

    def expires(self) -> int:
        return self.requested_at + APPROVE_WITHIN_MS

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "reason": self.reason, "requested_by": self.requested_by,
                "requested_at": self.requested_at, "expires": self.expires(),
                "answered_by": self.answered_by, "command_version": self.command_version}


def refusal(request: LiftRequest | None, by: str, now: int) -> str | None:
    """Why `by` may not approve `request` now (None: they may). The rule, without the store."""
    if request is None or request.answered_by:
        return "nothing with this id waits for approval (done, replaced or lapsed)"
    if now > request.expires():
        return "this request lapsed: it was not approved within 10 minutes"
    if same_person(by, request.requested_by):
        return "a second, different person must approve this"
    return None


_COLUMNS = ("id, reason, requested_by, requested_at, answered_by, answered_at, "
            "command_version")


def get(store: PrisonStore, request_id: str) -> LiftRequest | None:
    row = store.execute(f"SELECT {_COLUMNS} FROM lift_requests WHERE id = ?",
                        [request_id]).fetchone()
    return LiftRequest(*row) if row else None


def waiting(store: PrisonStore, now: int) -> list[LiftRequest]:
    rows = store.execute(f"SELECT {_COLUMNS} FROM lift_requests WHERE answered_by = '' "
                         "AND requested_at >= ? ORDER BY requested_at",
                         [now - APPROVE_WITHIN_MS]).fetchall()
    return [LiftRequest(*row) for row in rows]


def ask(store: PrisonStore, reason: str, by: str, now: int) -> LiftRequest:
    """Record a request to lift the prison lockdown; one waiting before it is replaced."""
    if not reason.strip():
        raise ValueError("a reason is required")
    # Hex: the CLI takes the id as an argument, and a url-safe token may start with "-".
    request = LiftRequest(secrets.token_hex(8), reason.strip(), by, now, "", 0, 0)
    with store.backend.transaction():
        store.execute("UPDATE lift_requests SET answered_by = ?, answered_at = ? "
                      "WHERE answered_by = ''", [SUPERSEDED, now])
        store.execute(f"INSERT INTO lift_requests ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                      [request.id, request.reason, by, now, "", 0, 0])
    return request


def approve(store: PrisonStore, request_id: str, by: str, now: int,
            issue: Callable[[str, str], Command]) -> tuple[LiftRequest, Command]:
    """The second person agrees: claim the request, then `issue(both, reason)` the unlock.
    Raises LiftError when the rule refuses (nothing is issued)."""
    request = get(store, request_id)
    why = refusal(request, by, now)
    if why is not None or request is None:
        raise LiftError(why)
    claimed = store.execute("UPDATE lift_requests SET answered_by = ?, answered_at = ? "
                            "WHERE id = ? AND answered_by = ''", [by, now, request_id])
    if claimed.rowcount != 1:
        raise LiftError("another member of staff approved this request just now")
    command = issue(f"{request.requested_by}+{by}", request.reason)
    store.execute("UPDATE lift_requests SET command_version = ? WHERE id = ?",
                  [command.version, request_id])
    return LiftRequest(request.id, request.reason, request.requested_by, request.requested_at,
                       by, now, command.version), command
