"""Web grants as the gateway keeps them: table `web_grants` in the gateway's SQLite, every grant,
approval, revocation and expiry in one transaction with the audit entry that records it.

Who acted is kept twice: `granted_by`/`approved_by`/`revoked_by`, as shown (the verified identity
with any typed note beside it: `os:alice (officer.smith)`), and `granted_who`/`approved_who`, the
verified identity alone (`os:alice` for the CLI, from the API socket's peer credentials;
`console:alice` for a console account). The "different member of staff" rule compares only the
latter (`same_person`), never what anyone typed.

A grant's subject is `(subject_kind, subject)`: `("tablet", "T-0001")` today; a signed-in prisoner
(`("prisoner", ...)`) once accounts exist, with no change to the table.

Synchronous: the web feature calls it on the store's one thread, so a check and the write after it
are never interleaved with another change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.staff_identity import same_person
from gateway.store import Audit, Store
from wire.webaccess import GrantTerms

_COLUMNS = ("id, subject_kind, subject, site, purpose, granted_by, granted_at, start, until,"
            " sensitive, approved_by, approved_at, revoked_by, revoked_at, revoke_reason,"
            " expiry_audited, granted_who, approved_who")
_ADDED = {"granted_who": "TEXT", "approved_who": "TEXT"}
"""Columns added after the table first shipped (made on an older database at start)."""


APPROVE_WITHIN_MS = 10 * 60 * 1000
"""A sensitive site's grant not approved this soon after it was made lapses (the two-person rule,
the same 10 minutes as the console's `two_person.APPROVE_WITHIN_MS`): grant it again."""


class GrantConflict(Exception):
    """The change cannot be made as asked (already approved, same approver, revoked...)."""


@dataclass(frozen=True, slots=True)
class Grant:
    id: str
    subject_kind: str
    subject: str
    site: str
    purpose: str
    granted_by: str
    granted_at: int
    start: int
    until: int
    sensitive: bool
    approved_by: str | None
    approved_at: int | None
    revoked_by: str | None
    revoked_at: int | None
    revoke_reason: str | None
    expiry_audited: bool
    granted_who: str | None
    """The verified identity of who granted it (None: a grant made before it was recorded)."""
    approved_who: str | None

    @property
    def approved(self) -> bool:
        return not self.sensitive or self.approved_by is not None

    def terms(self) -> GrantTerms:
        return GrantTerms(self.id, self.site, self.start, self.until, self.approved,
                          self.revoked_at is not None)

    def state(self, now: int) -> str:
        """`revoked`, `expired`, `awaiting_approval`, `lapsed` (not approved in time),
        `scheduled` or `active`."""
        if self.revoked_at is not None:
            return "revoked"
        if now >= self.until:
            return "expired"
        if not self.approved:
            return "lapsed" if now > self.granted_at + APPROVE_WITHIN_MS else "awaiting_approval"
        return "scheduled" if now < self.start else "active"

    def as_json(self, now: int) -> dict[str, Any]:
        return {"id": self.id, "subject_kind": self.subject_kind, "subject": self.subject,
                "site": self.site, "purpose": self.purpose, "granted_by": self.granted_by,
                "granted_at": self.granted_at, "start": self.start, "until": self.until,
                "sensitive": self.sensitive, "approved_by": self.approved_by,
                "approved_at": self.approved_at, "revoked_by": self.revoked_by,
                "revoked_at": self.revoked_at, "revoke_reason": self.revoke_reason,
                "state": self.state(now)}


def _grant(row: tuple[Any, ...]) -> Grant:
    return Grant(f"G{row[0]}", row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
                 bool(row[9]), row[10], row[11], row[12], row[13], row[14], bool(row[15]),
                 row[16], row[17])


def _number(grant_id: str) -> int | None:
    digits = grant_id.upper().removeprefix("G")
    # ASCII only: str.isdigit() is also true of "²", which int() refuses.
    return int(digits) if digits.isascii() and digits.isdigit() and len(digits) < 12 else None


class GrantBook:
    def __init__(self, store: Store) -> None:
        self._store = store
        with store.transaction() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS web_grants ("
                " id INTEGER PRIMARY KEY AUTOINCREMENT, subject_kind TEXT NOT NULL,"
                " subject TEXT NOT NULL, site TEXT NOT NULL, purpose TEXT NOT NULL,"
                " granted_by TEXT NOT NULL, granted_at INTEGER NOT NULL,"
                " start INTEGER NOT NULL, until INTEGER NOT NULL, sensitive INTEGER NOT NULL,"
                " approved_by TEXT, approved_at INTEGER, revoked_by TEXT, revoked_at INTEGER,"
                " revoke_reason TEXT, expiry_audited INTEGER NOT NULL DEFAULT 0)"
            )
            db.execute("CREATE INDEX IF NOT EXISTS web_grants_subject"
                       " ON web_grants (subject_kind, subject)")
            have = {row[1] for row in db.execute("PRAGMA table_info(web_grants)").fetchall()}
            for column, kind in _ADDED.items():
                if column not in have:
                    db.execute(f"ALTER TABLE web_grants ADD COLUMN {column} {kind}")

    def add(self, kind: str, subject: str, site: str, purpose: str, by: str, now: int,
            until: int, sensitive: bool, who: str | None = None) -> Grant:
        """`by` as recorded (the audit's actor is `staff:<by>`); `who` the verified identity
        alone (default: `by`)."""
        audit = Audit(now, f"staff:{by}", "web_grant", f"{_target(kind)}:{subject}", {
            "site": site, "purpose": purpose, "until": until, "sensitive": sensitive})
        with self._store.transaction(audit) as db:
            cursor = db.execute(
                "INSERT INTO web_grants (subject_kind, subject, site, purpose, granted_by,"
                " granted_at, start, until, sensitive, granted_who)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [kind, subject, site, purpose, by, now, now, until, int(sensitive), who or by])
            number = cursor.lastrowid
            audit.detail["grant"] = f"G{number}"  # the same transaction, before the audit row
        found = self.get(f"G{number}")
        assert found is not None
        return found

    def get(self, grant_id: str) -> Grant | None:
        number = _number(grant_id)
        if number is None:
            return None
        rows = self._store.read(f"SELECT {_COLUMNS} FROM web_grants WHERE id = ?", [number])
        return _grant(rows[0]) if rows else None

    def approve(self, grant_id: str, by: str, now: int, who: str | None = None
                ) -> Grant | None:
        """The second member of staff's approval of a sensitive site's grant; None: no grant.
        `who` is the approver's verified identity (default: `by`). Raises GrantConflict when it
        cannot be approved (by whom or in what state)."""
        who = who or by
        grant = self.get(grant_id)
        if grant is None:
            return None
        if not grant.sensitive:
            raise GrantConflict(f"{grant.id} is for {grant.site}, which needs no approval")
        if grant.approved_by is not None:
            raise GrantConflict(f"{grant.id} is already approved by {grant.approved_by}")
        if grant.state(now) in ("revoked", "expired"):
            raise GrantConflict(f"{grant.id} is {grant.state(now)}")
        if grant.state(now) == "lapsed":
            raise GrantConflict(f"{grant.id} lapsed: it was not approved within 10 minutes of "
                                "being granted; grant it again")
        if grant.granted_who is None:
            raise GrantConflict(f"{grant.id} was made before the gateway recorded who granted "
                                "it: revoke it and grant it again")
        if same_person(who, grant.granted_who):
            raise GrantConflict(f"{grant.id} was granted by {grant.granted_who}: a different "
                                "member of staff must approve it")
        audit = Audit(now, f"staff:{by}", "web_grant_approve", _subject(grant),
                      {"grant": grant.id, "site": grant.site})
        with self._store.transaction(audit) as db:
            db.execute("UPDATE web_grants SET approved_by = ?, approved_at = ?, approved_who = ?"
                       " WHERE id = ?", [by, now, who, _number(grant.id)])
        return self.get(grant.id)

    def revoke(self, grant_id: str, by: str, reason: str, now: int, actor: str | None = None
               ) -> Grant | None:
        """End a grant; `actor` names who the audit says acted (default `staff:<by>`)."""
        grant = self.get(grant_id)
        if grant is None:
            return None
        if grant.revoked_at is not None:
            raise GrantConflict(f"{grant.id} is already revoked")
        audit = Audit(now, actor or f"staff:{by}", "web_grant_revoke", _subject(grant),
                      {"grant": grant.id, "site": grant.site, "reason": reason})
        with self._store.transaction(audit) as db:
            db.execute("UPDATE web_grants SET revoked_by = ?, revoked_at = ?, revoke_reason = ?"
                       " WHERE id = ?", [by, now, reason, _number(grant.id)])
        return self.get(grant.id)

    def expire(self, now: int) -> list[Grant]:
        """Audit every grant whose expiry has passed (once each); the ones it audited."""
        rows = self._store.read(
            f"SELECT {_COLUMNS} FROM web_grants WHERE until <= ? AND expiry_audited = 0"
            " AND revoked_at IS NULL", [now])
        expired = [_grant(r) for r in rows]
        if not expired:
            return []
        audits = [Audit(now, "gateway", "web_grant_expired", _subject(g),
                        {"grant": g.id, "site": g.site, "until": g.until}) for g in expired]
        with self._store.transaction(*audits) as db:
            db.conn.executemany("UPDATE web_grants SET expiry_audited = 1 WHERE id = ?",
                           [[_number(g.id)] for g in expired])
        return expired

    def listing(self, kind: str | None = None, subject: str | None = None) -> list[Grant]:
        sql, params = f"SELECT {_COLUMNS} FROM web_grants", []
        if subject is not None:
            sql += " WHERE subject_kind = ? AND subject = ?"
            params = [kind or "tablet", subject]
        return [_grant(r) for r in self._store.read(sql + " ORDER BY id", params)]

    def next_expiry(self) -> int | None:
        """The earliest expiry not yet audited (when the feature next has work)."""
        rows = self._store.read("SELECT MIN(until) FROM web_grants WHERE expiry_audited = 0"
                                " AND revoked_at IS NULL")
        return rows[0][0] if rows else None


def _target(kind: str) -> str:
    return "device" if kind == "tablet" else kind


def _subject(grant: Grant) -> str:
    return f"{_target(grant.subject_kind)}:{grant.subject}"
