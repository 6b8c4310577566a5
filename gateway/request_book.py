"""Prisoners' requests as the gateway keeps them: table `requests` in the gateway's SQLite, every
change in one transaction with the audit entry that records it (`Store.transaction`).

Synchronous: the desk calls it on the store's one thread, so a check and the write after it are
never interleaved with another request's.

A person's request (one with `person`) follows them: table `request_copies` says which tablet
holds which of them, and whether with staff's answer (the tablet wrote it, or acknowledged a
copy); `owed` is what a tablet of their cell still lacks.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from gateway.store import Audit, Store
from wire.requests import Request


class RequestConflict(Exception):
    """The request cannot be kept as sent; `reason` ("kind: detail") is the refusal's."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Reply:
    device: str
    request: str
    text: str
    by: str
    person: str | None = None


@dataclass(frozen=True, slots=True)
class Copy:
    """A person's request (with staff's answer, if any) that `device` lacks."""

    device: str
    request: str
    person: str
    type: str
    text: str
    created: int
    reply: str | None
    by: str | None
    held: bool = False
    """The tablet holds the request already and lacks only the answer: a plain reply, as a
    tablet from before copies reads it."""


ASSIGNMENT_COLUMNS = (("assigned_to", "TEXT"), ("assigned_by", "TEXT"), ("assigned_at", "INTEGER"),
                      ("person", "TEXT"))
"""Columns added after the first release (`person`: the prison number of who wrote it, if the
tablet said; the console's person page lists a person's requests by it)."""


class RequestBook:
    def __init__(self, store: Store) -> None:
        self._store = store
        with store.transaction() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS requests ("
                " id TEXT PRIMARY KEY, device TEXT NOT NULL, type TEXT NOT NULL,"
                " text TEXT NOT NULL, created INTEGER NOT NULL, received INTEGER NOT NULL,"
                " copies INTEGER NOT NULL DEFAULT 0, reply TEXT, reply_by TEXT,"
                " replied_at INTEGER, reply_delivered INTEGER NOT NULL DEFAULT 0)"
            )
            db.execute(
                "CREATE INDEX IF NOT EXISTS requests_undelivered ON requests (device)"
                " WHERE reply IS NOT NULL AND reply_delivered = 0"
            )
            # Added after the first release: a database made before gains the columns.
            have = {row[1] for row in db.execute("PRAGMA table_info(requests)").fetchall()}
            for column, kind in ASSIGNMENT_COLUMNS:
                if column not in have:
                    db.execute(f"ALTER TABLE requests ADD COLUMN {column} {kind}")
            db.execute(
                "CREATE TABLE IF NOT EXISTS request_copies ("
                " request TEXT NOT NULL, device TEXT NOT NULL, answered INTEGER NOT NULL,"
                " PRIMARY KEY (request, device))"
            )
            db.execute("CREATE INDEX IF NOT EXISTS requests_person ON requests (person)"
                       " WHERE person IS NOT NULL")

    def receive(self, device: str, request: Request, now: int, max_open: int,
                holds: bool = False) -> None:
        """Keep a tablet's request once (a copy is counted, audited the first time); raises
        RequestConflict for one the gateway refuses. `holds`: the writer still lives in the
        tablet's cell, so the tablet holds it as theirs (nothing to copy to it). At most
        `max_open` wait for an answer per writer (per tablet for a request of nobody)."""
        actor, target = f"tablet:{device}", f"device:{device}"
        rows = self._store.read("SELECT device, copies FROM requests WHERE id = ?", [request.id])
        row = rows[0] if rows else None
        if row is None:
            waiting = self._store.read(
                "SELECT COUNT(*) FROM requests WHERE person = ? AND reply IS NULL",
                [request.person]
            )[0][0] if request.person is not None else self._store.read(
                "SELECT COUNT(*) FROM requests WHERE device = ? AND person IS NULL"
                " AND reply IS NULL", [device]
            )[0][0]
            if waiting >= max_open:
                raise RequestConflict(f"too_many_open: {waiting} requests already wait for an "
                                      f"answer (at most {max_open})")
            audit = Audit(now, actor, "request", target, {"id": request.id, "type": request.type})
            with self._store.transaction(audit) as db:
                db.execute(
                    "INSERT INTO requests (id, device, type, text, created, received, person)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [request.id, device, request.type, request.text, request.created, now,
                     request.person],
                )
                if holds and request.person is not None:
                    db.execute("INSERT OR IGNORE INTO request_copies (request, device, answered)"
                               " VALUES (?, ?, 0)", [request.id, device])
            return
        if row[0] != device:
            raise RequestConflict(f"id_conflict: request {request.id} belongs to another tablet")
        duplicate = Audit(now, actor, "request_duplicate", target, {"id": request.id})
        with self._store.transaction(duplicate if row[1] == 0 else None) as db:
            db.execute("UPDATE requests SET copies = copies + 1 WHERE id = ?", [request.id])

    def delivered(self, device: str, request_id: str) -> None:
        """The tablet stored the reply to a request of nobody: stop sending it."""
        with self._store.transaction() as db:
            db.execute(
                "UPDATE requests SET reply_delivered = 1 WHERE id = ? AND device = ?"
                " AND person IS NULL",
                [request_id, device],
            )

    def held(self, device: str, request_id: str, answered: bool, people: set[str]) -> None:
        """`device` stored a copy of a person's request (`answered`: with staff's answer); kept
        only while the person lives in its cell (`people`)."""
        rows = self._store.read("SELECT person, reply FROM requests WHERE id = ?", [request_id])
        if not rows or rows[0][0] not in people or (answered and rows[0][1] is None):
            return
        with self._store.transaction() as db:
            db.execute(
                "INSERT INTO request_copies (request, device, answered) VALUES (?, ?, ?)"
                " ON CONFLICT (request, device) DO UPDATE SET"
                " answered = MAX(answered, excluded.answered)",
                [request_id, device, int(answered)])
            if answered:
                db.execute("UPDATE requests SET reply_delivered = 1 WHERE id = ?", [request_id])

    def wiped(self, device: str, job_id: str) -> bool:
        """If `job_id` is a wipe of `device` (it succeeded), forget every request the tablet
        held: its agent erased them, and the people of its cell are sent theirs again. True if
        it was one."""
        try:
            rows = self._store.read("SELECT 1 FROM jobs WHERE id = ? AND device = ?"
                                    " AND kind = 'wipe'", [job_id, device])
        except sqlite3.OperationalError:  # a gateway without jobs (a test's store)
            return False
        if rows:
            with self._store.transaction() as db:
                db.execute("DELETE FROM request_copies WHERE device = ?", [device])
        return bool(rows)

    def owed(self, cells: dict[str, set[str]], per_person: int) -> list[Copy]:
        """For each tablet (`cells`: device → who lives in its cell now), the requests of those
        people among their newest `per_person` that it does not hold as they are now (a copy,
        or one without the answer staff have given since). What a tablet held of people who no
        longer live in its cell is forgotten (its agent drops them too)."""
        owed: list[Copy] = []
        with self._store.transaction() as db:
            for device, people in cells.items():
                db.execute(
                    "DELETE FROM request_copies WHERE device = ? AND request NOT IN"
                    f" (SELECT id FROM requests WHERE person IN ({_marks(people)}))",
                    [device, *people])
        for device, people in cells.items():
            if not people:
                continue
            marks = _marks(people)
            rows = self._store.read(
                "SELECT r.id, r.person, r.type, r.text, r.created, r.reply, r.reply_by,"
                " c.request IS NOT NULL FROM ("
                "  SELECT *, ROW_NUMBER() OVER (PARTITION BY person"
                "   ORDER BY received DESC, id DESC) AS n"
                f"  FROM requests WHERE person IN ({marks})) AS r"
                " LEFT JOIN request_copies AS c ON c.request = r.id AND c.device = ?"
                " WHERE r.n <= ? AND (c.request IS NULL OR (r.reply IS NOT NULL AND"
                "  c.answered = 0)) ORDER BY r.received, r.id",
                [*people, device, per_person])
            owed += [Copy(device, r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]))
                     for r in rows]
        return owed

    def reply(self, request_id: str, text: str, by: str, now: int) -> Reply | None:
        """Record staff's answer, with its audit entry; the reply to send, None if there is no
        such request. Raises RequestConflict if it is already answered."""
        rows = self._store.read("SELECT device, reply, person FROM requests WHERE id = ?",
                                [request_id])
        if not rows:
            return None
        device, answered, person = rows[0]
        if answered is not None:
            raise RequestConflict(f"request {request_id} is already answered")
        audit = Audit(now, f"staff:{by}", "request_reply", f"device:{device}", {"id": request_id})
        with self._store.transaction(audit) as db:
            db.execute(
                "UPDATE requests SET reply = ?, reply_by = ?, replied_at = ? WHERE id = ?",
                [text, by, now, request_id],
            )
        return Reply(device, request_id, text, by, person)

    def assign(self, request_id: str, to: str | None, by: str, now: int) -> str | None:
        """Give the request to staff account `to` (None: take it back), audited; the tablet it
        came from, None if there is no such request."""
        rows = self._store.read("SELECT device, assigned_to FROM requests WHERE id = ?",
                                [request_id])
        if not rows:
            return None
        device, before = rows[0]
        audit = Audit(now, f"staff:{by}", "request_assign" if to else "request_unassign",
                      f"device:{device}", {"id": request_id, "to": to, "before": before})
        with self._store.transaction(audit) as db:
            db.execute(
                "UPDATE requests SET assigned_to = ?, assigned_by = ?, assigned_at = ?"
                " WHERE id = ?", [to, by if to else None, now if to else None, request_id])
        return str(device)

    def listing(self, device: str | None = None, person: str | None = None
                ) -> list[dict[str, Any]]:
        """Every request (of one tablet, and/or written by one person)."""
        sql = ("SELECT id, device, type, text, created, received, copies, reply, reply_by,"
               " replied_at, reply_delivered, assigned_to, assigned_by, assigned_at, person"
               " FROM requests")
        where, params = [], []
        for column, value in (("device", device), ("person", person)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [
            {"id": r[0], "device": r[1], "type": r[2], "text": r[3], "created": r[4],
             "received": r[5], "copies": r[6],
             "status": "answered" if r[7] is not None else "open",
             "reply": r[7], "reply_by": r[8], "replied_at": r[9],
             "reply_delivered": bool(r[10]), "assigned_to": r[11], "assigned_by": r[12],
             "assigned_at": r[13], "person": r[14]}
            for r in self._store.read(sql + " ORDER BY received, id", params)
        ]

    def undelivered(self, device: str | None = None) -> list[Reply]:
        """Replies to requests of nobody not yet acknowledged (of one tablet, or all); a
        person's go with their copies (`owed`)."""
        where, params = ("WHERE device = ? AND", [device]) if device is not None else ("WHERE", [])
        rows = self._store.read(
            f"SELECT device, id, reply, reply_by FROM requests {where}"
            " reply IS NOT NULL AND reply_delivered = 0 AND person IS NULL",
            params,
        )
        return [Reply(*r) for r in rows]


def _marks(values: set[str]) -> str:
    return ",".join("?" * len(values))
