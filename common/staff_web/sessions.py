"""Server-side sessions: a random id in the cookie, everything else here. Idle 15 minutes,
absolute 12 hours; each carries its CSRF token. Pure (the clock is passed in) and bounded.

A session exists before sign-in too (it holds the sign-in form's CSRF token); signing in always
makes a new one and ends the old, so an id planted before sign-in is worth nothing after it.
"""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass, field

IDLE_MS = 15 * 60 * 1000
ABSOLUTE_MS = 12 * 3600 * 1000
MAX_SESSIONS = 10_000


@dataclass(slots=True)
class Session:
    id: str
    account: str | None
    created: int
    last_used: int
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    def check_csrf(self, token: str | None) -> bool:
        return bool(token) and secrets.compare_digest(self.csrf.encode(), str(token).encode())


class Sessions:
    def __init__(self, *, idle_ms: int = IDLE_MS, absolute_ms: int = ABSOLUTE_MS,
                 limit: int = MAX_SESSIONS) -> None:
        self.idle_ms = idle_ms
        self.absolute_ms = absolute_ms
        self.limit = limit
        self._by_id: OrderedDict[str, Session] = OrderedDict()

    def new(self, account: str | None, now: int) -> Session:
        """A fresh session (the oldest dropped if there are too many)."""
        while len(self._by_id) >= self.limit:
            self._by_id.popitem(last=False)
        session = Session(secrets.token_urlsafe(32), account, now, now)
        self._by_id[session.id] = session
        return session

    def get(self, session_id: str | None, now: int) -> Session | None:
        """The live session with this id, its idle clock restarted; None (and forgotten) when
        unknown, idle too long or too old."""
        if not session_id:
            return None
        session = self._by_id.get(session_id)
        if session is None:
            return None
        if now - session.last_used > self.idle_ms or now - session.created > self.absolute_ms:
            del self._by_id[session_id]
            return None
        session.last_used = now
        self._by_id.move_to_end(session_id)
        return session

    def end(self, session_id: str) -> None:
        self._by_id.pop(session_id, None)

    def end_account(self, account: str) -> int:
        """End every session of an account (disabled, reset); how many there were."""
        ids = [s.id for s in self._by_id.values() if s.account == account]
        for session_id in ids:
            del self._by_id[session_id]
        return len(ids)
