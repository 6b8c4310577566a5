"""One-off jobs as the gateway keeps them (`wire.jobs`): table `jobs` in the gateway's SQLite,
every change in one transaction with the audit entry that records it.

A job's life: `awaiting_approval` (a wipe: the two-person rule) → `pending` (signed, to be sent)
→ `sent` → `received` → `in_progress` → `succeeded` | `failed`; or `rejected` by the tablet,
`lapsed` (not approved within `APPROVE_WITHIN_MS`), `expired` (not taken before its signature
ran out), `unknown` (taken, but the tablet never said how it ended within `FINISH_WITHIN_MS` of
the signature running out: an agent killed mid-wipe; the tablet stays as its desired state says,
locked if it was, until staff give it a new one; should the tablet still say how it ended, that
replaces `unknown`). Who asked and who approved are kept as shown
(`requested_by`, `approved_by`) and as verified identities alone (`requested_who`,
`approved_who`: `os:alice`, `console:bob`), and only the latter are compared
(`web_grant_book.same_person`, the one notion of "a different member of staff"). The envelope
is signed once, at approval, and sent as is until it expires.

Synchronous: the job desk calls it on the store's one thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from common.staff_identity import same_person
from gateway.store import Audit, Store
from wire.jobs import TWO_PERSON_KINDS

APPROVE_WITHIN_MS = 10 * 60 * 1000
"""A wipe not approved this soon after it was asked for lapses (the two-person rule's 10 minutes,
as for web grants and the console)."""

FINISH_WITHIN_MS = 60 * 60 * 1000
"""A job taken (`received`, `in_progress`) and not reported finished this long after its signature
ran out ends `unknown` (audited as timed out), so none stays in progress for ever."""

_COLUMNS = ("id, device, kind, reason, requested_by, requested_who, requested_at, approved_by,"
            " approved_who, approved_at, state, envelope, expires, detail, updated")
OPEN = ("pending", "sent")
"""Signed and not yet taken by the tablet: sent again at its births."""
_RANK = {"awaiting_approval": 0, "pending": 1, "sent": 2, "received": 3, "in_progress": 4,
         "succeeded": 5, "failed": 5, "rejected": 5, "lapsed": 5, "expired": 5, "unknown": 5}
FINAL = frozenset(state for state, rank in _RANK.items() if rank == 5)


class JobConflict(Exception):
    """The job cannot be changed as asked (same approver, lapsed, already approved...)."""


@dataclass(frozen=True, slots=True)
class StoredJob:
    id: str
    device: str
    kind: str
    reason: str
    requested_by: str
    requested_who: str
    requested_at: int
    approved_by: str | None
    approved_who: str | None
    approved_at: int | None
    state: str
    envelope: bytes | None
    expires: int | None
    detail: str
    updated: int

    @property
    def signed_by(self) -> str:
        """The `by` the tablet's envelope carries: both verified identities for a two-person
        job (requester first)."""
        if self.kind in TWO_PERSON_KINDS:
            return f"{self.requested_who}+{self.approved_who}"
        return self.requested_who

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "device": self.device, "kind": self.kind, "reason": self.reason,
                "requested_by": self.requested_by, "requested_at": self.requested_at,
                "approved_by": self.approved_by, "approved_at": self.approved_at,
                "state": self.state, "expires": self.expires, "detail": self.detail,
                "updated": self.updated,
                "approve_by": (self.requested_at + APPROVE_WITHIN_MS
                               if self.state == "awaiting_approval" else None)}


def _job(row: tuple[Any, ...]) -> StoredJob:
    return StoredJob(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
                     row[9], row[10], bytes(row[11]) if row[11] is not None else None, row[12],
                     row[13] or "", row[14])


class JobBook:
    def __init__(self, store: Store) -> None:
        self._store = store
        with store.transaction() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, device TEXT NOT NULL,"
                " kind TEXT NOT NULL, reason TEXT NOT NULL, requested_by TEXT NOT NULL,"
                " requested_who TEXT NOT NULL, requested_at INTEGER NOT NULL, approved_by TEXT,"
                " approved_who TEXT, approved_at INTEGER, state TEXT NOT NULL, envelope BLOB,"
                " expires INTEGER, detail TEXT, updated INTEGER NOT NULL)")
            db.execute("CREATE INDEX IF NOT EXISTS jobs_open ON jobs (device)"
                       " WHERE state IN ('awaiting_approval', 'pending', 'sent')")

    def get(self, job_id: str) -> StoredJob | None:
        rows = self._store.read(f"SELECT {_COLUMNS} FROM jobs WHERE id = ?", [job_id])
        return _job(rows[0]) if rows else None

    def request(self, job_id: str, device: str, kind: str, reason: str, by: str, who: str,
                now: int) -> StoredJob:
        """Record staff's request for a job (a two-person kind waits for approval)."""
        state = "awaiting_approval" if kind in TWO_PERSON_KINDS else "pending"
        audit = Audit(now, f"staff:{by}", f"{kind}_requested", f"device:{device}",
                      {"job": job_id, "reason": reason, "who": who, "state": state})
        with self._store.transaction(audit) as db:
            db.execute("INSERT INTO jobs (id, device, kind, reason, requested_by, requested_who,"
                       " requested_at, state, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                       [job_id, device, kind, reason, by, who, now, state, now])
        found = self.get(job_id)
        assert found is not None
        return found

    def check_approval(self, job_id: str, by: str, who: str, now: int) -> StoredJob | None:
        """The job, if `who` may approve it now; None: no such job. Raises JobConflict (and
        audits the refusal) when it may not: the same person, lapsed, not awaiting approval."""
        job = self.get(job_id)
        if job is None:
            return None
        problem = None
        if job.state == "awaiting_approval" and now > job.requested_at + APPROVE_WITHIN_MS:
            self.lapse(now)
            job = self.get(job_id) or job
        if job.state == "lapsed":
            problem = (f"{job.id} lapsed: it was not approved within 10 minutes of being asked "
                       "for; ask again")
        elif job.state != "awaiting_approval":
            problem = f"{job.id} is {job.state.replace('_', ' ')}: nothing to approve"
        elif same_person(who, job.requested_who):
            problem = (f"{job.id} was asked for by {job.requested_who}: a different member of "
                       "staff must approve it")
        if problem is not None:
            self._store.append(Audit(now, f"staff:{by}", f"{job.kind}_approve_refused",
                                     f"device:{job.device}", {"job": job.id, "who": who,
                                                               "reason": problem}))
            raise JobConflict(problem)
        return job

    def approve(self, job: StoredJob, by: str, who: str, now: int, envelope: bytes,
                expires: int) -> StoredJob:
        """Record the approval and the envelope signed for it, with its audit entry (naming
        both people)."""
        audit = Audit(now, f"staff:{by}", f"{job.kind}_approved", f"device:{job.device}",
                      {"job": job.id, "requested_by": job.requested_who, "approved_by": who,
                       "expires": expires})
        with self._store.transaction(audit) as db:
            changed = db.execute(
                "UPDATE jobs SET approved_by = ?, approved_who = ?, approved_at = ?,"
                " state = 'pending', envelope = ?, expires = ?, updated = ?"
                " WHERE id = ? AND state = 'awaiting_approval'",
                [by, who, now, envelope, expires, now, job.id]).rowcount
            if changed != 1:
                raise JobConflict(f"{job.id} is no longer awaiting approval")
        found = self.get(job.id)
        assert found is not None
        return found

    def signed(self, job: StoredJob, envelope: bytes, expires: int, now: int) -> StoredJob:
        """A one-person job's envelope (its request was the audit entry)."""
        with self._store.transaction() as db:
            db.execute("UPDATE jobs SET envelope = ?, expires = ?, updated = ? WHERE id = ?",
                       [envelope, expires, now, job.id])
        found = self.get(job.id)
        assert found is not None
        return found

    def mark(self, job_id: str, device: str, state: str, detail: str, now: int) -> bool:
        """Move a job forward (never back, never out of a final state — except that the
        tablet's own late word replaces the gateway's `unknown`), audited; False when there is
        no such job of that tablet or the state is not ahead of its own."""
        job = self.get(job_id)
        if job is None or job.device != device:
            return False
        late_word = job.state == "unknown" and state in ("succeeded", "failed")
        if not late_word and (job.state in FINAL or _RANK.get(state, -1) <= _RANK[job.state]):
            return False
        actor = "gateway" if state in ("sent", "expired", "unknown") else f"tablet:{device}"
        audit = Audit(now, actor, f"{job.kind}_{state}", f"device:{device}",
                      {"job": job.id, "detail": detail, "requested_by": job.requested_who,
                       "approved_by": job.approved_who})
        with self._store.transaction(audit) as db:
            db.execute("UPDATE jobs SET state = ?, detail = ?, updated = ? WHERE id = ?",
                       [state, detail[:500], now, job.id])
        return True

    def lapse(self, now: int) -> list[StoredJob]:
        """Audit and close every request not approved in time; the ones it closed."""
        rows = self._store.read(f"SELECT {_COLUMNS} FROM jobs WHERE state = 'awaiting_approval'"
                                " AND requested_at < ?", [now - APPROVE_WITHIN_MS])
        lapsed = [_job(r) for r in rows]
        if lapsed:
            audits = [Audit(now, "gateway", f"{j.kind}_lapsed", f"device:{j.device}",
                            {"job": j.id, "requested_by": j.requested_who}) for j in lapsed]
            with self._store.transaction(*audits) as db:
                db.conn.executemany("UPDATE jobs SET state = 'lapsed', updated = ? WHERE id = ?",
                                    [[now, j.id] for j in lapsed])
        return lapsed

    def expire(self, now: int) -> list[StoredJob]:
        """Close (audited) every job signed and not taken before it expired."""
        rows = self._store.read(f"SELECT {_COLUMNS} FROM jobs WHERE state IN ('pending', 'sent')"
                                " AND expires <= ?", [now])
        expired = [_job(r) for r in rows]
        for job in expired:
            self.mark(job.id, job.device, "expired", "not taken before it expired", now)
        return expired

    def time_out(self, now: int) -> list[StoredJob]:
        """End (audited, `unknown`) every job taken but not reported finished in time."""
        rows = self._store.read(f"SELECT {_COLUMNS} FROM jobs WHERE state IN ('received',"
                                " 'in_progress') AND expires <= ?", [now - FINISH_WITHIN_MS])
        stuck = [_job(r) for r in rows]
        for job in stuck:
            self.mark(job.id, job.device, "unknown",
                      f"timed out: the tablet never said how it ended (last: {job.state})", now)
        return stuck

    def to_send(self, device: str | None, now: int) -> list[StoredJob]:
        """Jobs signed, in date and not yet taken (one tablet's, or all)."""
        sql = (f"SELECT {_COLUMNS} FROM jobs WHERE state IN ('pending', 'sent')"
               " AND envelope IS NOT NULL AND expires > ?")
        params: list[Any] = [now]
        if device is not None:
            sql, params = sql + " AND device = ?", [now, device]
        return [_job(r) for r in self._store.read(sql + " ORDER BY requested_at", params)]

    def listing(self, device: str | None = None, limit: int = 200) -> list[StoredJob]:
        sql, params = f"SELECT {_COLUMNS} FROM jobs", []
        if device is not None:
            sql, params = sql + " WHERE device = ?", [device]
        return [_job(r) for r in self._store.read(
            sql + " ORDER BY requested_at DESC LIMIT ?", [*params, limit])]
