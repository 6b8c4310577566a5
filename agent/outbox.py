"""The tablet's outbox on disk: a prisoner's request is stored here before the shell is told
"saved", stays `waiting` until the broker acknowledged it (PUBACK), and keeps staff's reply.
Other things the tablet owes the gateway exactly once (the person events of `wire.prisoners`)
wait in its `events` table the same way: kept before anyone is told, marked once PUBACKed, made
unique by an id the gateway keeps once.

Its own SQLite file beside state.db (WAL, synchronous=FULL: a power cut never loses a saved
request), so sending a request never waits on, or can corrupt, the applied documents.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from agent.sqlite_file import SqliteFile
from agent.store import StoreError
from wire.localapi import MAX_SHOWN_REQUESTS, REQUEST_PREVIEW, RequestView
from wire.requests import Asked, Request

KEEP = 200
"""Requests kept on the tablet; the oldest answered ones are pruned (the gateway keeps them all)."""


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    by: str


class Outbox(SqliteFile):
    """Used from one worker thread at a time (the agent hands each call to a thread)."""

    def _create(self, conn: sqlite3.Connection) -> None:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS requests ("
            " id TEXT PRIMARY KEY, type TEXT NOT NULL, text TEXT NOT NULL,"
            " created INTEGER NOT NULL, delivered INTEGER NOT NULL DEFAULT 0,"
            " reply TEXT, reply_by TEXT, reply_envelope BLOB)"
        )
        columns = {row[1] for row in conn.execute("PRAGMA table_info(requests)")}
        if "person" not in columns:  # an outbox from before prisoner accounts
            conn.execute("ALTER TABLE requests ADD COLUMN person TEXT")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS events ("
            " id TEXT PRIMARY KEY, channel TEXT NOT NULL, body BLOB NOT NULL,"
            " created INTEGER NOT NULL, delivered INTEGER NOT NULL DEFAULT 0)"
        )

    def add(self, request: Request) -> None:
        self._write(
            "INSERT INTO requests (id, type, text, created, person) VALUES (?, ?, ?, ?, ?)",
            (request.id, request.type, request.text, request.created, request.person),
        )
        self._write(
            "DELETE FROM requests WHERE reply IS NOT NULL AND id NOT IN"
            " (SELECT id FROM requests ORDER BY created DESC LIMIT ?)",
            (KEEP,),
        )

    def waiting(self, person: str | None = None) -> int:
        """Requests of `person` (None: written with nobody signed in) not answered yet."""
        return int(self._read(
            "SELECT COUNT(*) FROM requests WHERE reply IS NULL AND person IS ?", (person,)
        )[0][0])

    def undelivered(self) -> list[Request]:
        rows = self._read(
            "SELECT id, type, text, created, person FROM requests WHERE delivered = 0"
            " ORDER BY created"
        )
        return [Request(id=r[0], type=r[1], text=r[2], created=r[3], person=r[4]) for r in rows]

    # -- other things owed to the gateway (person events) -----------------------------------

    def add_event(self, event_id: str, channel: str, body: bytes, created: int) -> None:
        self._write(
            "INSERT OR IGNORE INTO events (id, channel, body, created) VALUES (?, ?, ?, ?)",
            (event_id, channel, body, created),
        )
        self._write(
            "DELETE FROM events WHERE delivered = 1 AND id NOT IN"
            " (SELECT id FROM events ORDER BY created DESC LIMIT ?)",
            (KEEP,),
        )

    def undelivered_events(self) -> list[tuple[str, str, bytes]]:
        """(id, channel, body) of each event not yet PUBACKed, oldest first."""
        rows = self._read(
            "SELECT id, channel, body FROM events WHERE delivered = 0 ORDER BY created, rowid"
        )
        return [(r[0], r[1], bytes(r[2])) for r in rows]

    def mark_event_delivered(self, event_id: str) -> None:
        self._write("UPDATE events SET delivered = 1 WHERE id = ?", (event_id,))

    def mark_delivered(self, request_id: str) -> None:
        self._write("UPDATE requests SET delivered = 1 WHERE id = ?", (request_id,))

    def writer(self, request_id: str) -> tuple[str | None] | None:
        """(who wrote it,) for a request kept here (None inside: nobody signed in); None if
        none is."""
        rows = self._read("SELECT person FROM requests WHERE id = ?", (request_id,))
        return (rows[0][0],) if rows else None

    def add_copy(self, request_id: str, asked: Asked) -> None:
        """A person's request written elsewhere (another tablet of their cell, or their last
        cell's), as the gateway keeps it: delivered already."""
        self._write(
            "INSERT OR IGNORE INTO requests (id, type, text, created, person, delivered)"
            " VALUES (?, ?, ?, ?, ?, 1)",
            (request_id, asked.type, asked.text, asked.created, asked.person),
        )

    def forget_others(self, people: set[str]) -> int:
        """Drop the delivered requests (and replies) of every person not in `people`: they
        moved out, and theirs follow them. One still waiting to be sent stays until it is.
        The number dropped."""
        marks = ",".join("?" * len(people))
        try:
            with self._lock, self._conn:
                return self._conn.execute(
                    "DELETE FROM requests WHERE person IS NOT NULL AND delivered = 1"
                    f" AND person NOT IN ({marks})", tuple(people)).rowcount
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

    def answer(self, request_id: str) -> Answer | None:
        rows = self._read(
            "SELECT reply, reply_by FROM requests WHERE id = ? AND reply IS NOT NULL",
            (request_id,),
        )
        return Answer(rows[0][0], rows[0][1]) if rows else None

    def set_answer(self, request_id: str, answer: Answer, envelope: bytes) -> None:
        """Keep staff's reply (and the signed envelope it came in); a reply also proves the
        request was delivered."""
        self._write(
            "UPDATE requests SET reply = ?, reply_by = ?, reply_envelope = ?, delivered = 1"
            " WHERE id = ?",
            (answer.text, answer.by, envelope, request_id),
        )

    def views(self, limit: int = MAX_SHOWN_REQUESTS) -> dict[str | None, tuple[RequestView, ...]]:
        """The newest `limit` requests of each writer (None: nobody signed in), newest first."""
        rows = self._read(
            "SELECT id, type, text, created, delivered, reply, reply_by, person FROM ("
            " SELECT *, ROW_NUMBER() OVER (PARTITION BY person"
            "  ORDER BY created DESC, rowid DESC) AS n FROM requests)"
            " WHERE n <= ? ORDER BY created DESC, rowid DESC",
            (limit,),
        )
        views: dict[str | None, list[RequestView]] = {}
        for r in rows:
            views.setdefault(r[7], []).append(RequestView(
                id=r[0], type=r[1], text=r[2][:REQUEST_PREVIEW], created=r[3],
                status="answered" if r[5] is not None else "delivered" if r[4] else "waiting",
                reply=r[5] or "", reply_by=r[6] or "",
            ))
        return {person: tuple(shown) for person, shown in views.items()}
