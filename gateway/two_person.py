"""The two-person rule: an action that needs two people (lifting a wing lockdown, approving a
sensitive site's web grant, a remote wipe) waits for a second, different person with the right to
approve it within 10 minutes, else it lapses.

One book per gateway (`GatewayService.approvals`), shared by the console and the control API: a
lift asked for at the CLI can be approved in the console and the other way round, and an OS
account and a console account of one name count as one person (`same_person`).

Pure and in memory: a gateway restart forgets what waits, which leaves the wing as it is (locked)
— the safe side. The audit records the request, the approval and a lapse as they happen.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass

from common.staff_identity import same_person

UNLOCK_WING = "unlock_wing"
APPROVE_WEB_GRANT = "approve_web_grant"
WIPE_TABLET = "wipe_tablet"
APPROVE_WITHIN_MS = 10 * 60 * 1000
MAX_WAITING = 100


class ApprovalError(Exception):
    """The approval cannot be given (unknown, lapsed, or the same person twice)."""


@dataclass(frozen=True, slots=True)
class Pending:
    id: str
    action: str
    """What waits, e.g. `unlock_wing`."""
    target: str
    reason: str
    requested_by: str
    """Who asked: a console account's name, or a verified `os:NAME` from the control API."""
    requested_at: int

    def expires(self) -> int:
        return self.requested_at + APPROVE_WITHIN_MS

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "action": self.action, "target": self.target,
                "reason": self.reason, "requested_by": self.requested_by,
                "requested_at": self.requested_at, "expires": self.expires()}


class Approvals:
    def __init__(self, limit: int = MAX_WAITING) -> None:
        self._limit = limit
        self._waiting: OrderedDict[str, Pending] = OrderedDict()

    def request(self, action: str, target: str, reason: str, by: str, now: int) -> Pending:
        """Something waits for a second person; a second request for the same action and
        target replaces the first (one thing waits per action and target)."""
        for old in [p for p in self._waiting.values() if (p.action, p.target) == (action, target)]:
            del self._waiting[old.id]
        while len(self._waiting) >= self._limit:
            self._waiting.popitem(last=False)
        # Hex: the CLI takes the id as an argument, and a url-safe token may start with "-".
        pending = Pending(secrets.token_hex(8), action, target, reason, by, now)
        self._waiting[pending.id] = pending
        return pending

    def lapsed(self, now: int) -> list[Pending]:
        """Take out (and return) what was not approved in time."""
        gone = [p for p in self._waiting.values() if now > p.expires()]
        for pending in gone:
            del self._waiting[pending.id]
        return gone

    def get(self, pending_id: str) -> Pending | None:
        return self._waiting.get(pending_id)

    def find(self, action: str, target: str) -> Pending | None:
        """What waits for this action and target (at most one)."""
        return next((p for p in self._waiting.values() if (p.action, p.target) == (action, target)),
                    None)

    def waiting(self, now: int) -> list[Pending]:
        return [p for p in self._waiting.values() if now <= p.expires()]

    def approve(self, pending_id: str, by: str, now: int) -> Pending:
        """The second person (`by`, named as `requested_by` is) agrees: the pending action,
        taken out to be carried out."""
        pending = self._waiting.get(pending_id)
        if pending is None:
            raise ApprovalError("nothing with this id waits for approval (done or lapsed)")
        if now > pending.expires():
            del self._waiting[pending_id]
            raise ApprovalError("this request lapsed: it was not approved within 10 minutes")
        if same_person(by, pending.requested_by):
            raise ApprovalError("a second, different person must approve this")
        del self._waiting[pending_id]
        return pending

    def cancel(self, pending_id: str) -> Pending | None:
        return self._waiting.pop(pending_id, None)
