"""The tablet's requests on disk: a prisoner's request is stored here before the shell is told
"saved", stays `waiting` until the broker acknowledged it (PUBACK), and keeps staff's reply.

Its own SQLite file beside state.db (WAL, synchronous=FULL: a power cut never loses a saved
request), so sending a request never waits on, or can corrupt, the applied documents.
"""

from __future__ import annotations

import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.store import StoreError
from wire.localapi import MAX_SHOWN_REQUESTS, REQUEST_PREVIEW, RequestView
from wire.requests import Request

KEEP = 200
"""Requests kept on the tablet; the oldest answered ones are pruned (the gateway keeps them all)."""


@dataclass(frozen=True, slots=True)
class Answer:
    text: str
    by: str


class Outbox:
    """Used from one worker thread at a time (the agent hands each call to a thread)."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            with self._conn:
                self._conn.execute(
                    "CREATE TABLE IF NOT EXISTS requests ("
                    " id TEXT PRIMARY KEY, type TEXT NOT NULL, text TEXT NOT NULL,"
                    " created INTEGER NOT NULL, delivered INTEGER NOT NULL DEFAULT 0,"
                    " reply TEXT, reply_by TEXT, reply_envelope BLOB)"
                )
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{path}: {exc}") from exc
        self.path = path
        self._lock = threading.Lock()

    def add(self, request: Request) -> None:
        self._write(
            "INSERT INTO requests (id, type, text, created) VALUES (?, ?, ?, ?)",
            (request.id, request.type, request.text, request.created),
        )
        self._write(
            "DELETE FROM requests WHERE reply IS NOT NULL AND id NOT IN"
            " (SELECT id FROM requests ORDER BY created DESC LIMIT ?)",
            (KEEP,),
        )

    def waiting(self) -> int:
        """Requests not answered yet (sent or not)."""
        return int(self._read("SELECT COUNT(*) FROM requests WHERE reply IS NULL")[0][0])

    def undelivered(self) -> list[Request]:
        rows = self._read(
            "SELECT id, type, text, created FROM requests WHERE delivered = 0 ORDER BY created"
        )
        return [Request(id=r[0], type=r[1], text=r[2], created=r[3]) for r in rows]

    def mark_delivered(self, request_id: str) -> None:
        self._write("UPDATE requests SET delivered = 1 WHERE id = ?", (request_id,))

    def known(self, request_id: str) -> bool:
        return bool(self._read("SELECT 1 FROM requests WHERE id = ?", (request_id,)))

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

    def views(self, limit: int = MAX_SHOWN_REQUESTS) -> tuple[RequestView, ...]:
        rows = self._read(
            "SELECT id, type, text, created, delivered, reply, reply_by FROM requests"
            " ORDER BY created DESC, rowid DESC LIMIT ?",
            (limit,),
        )
        return tuple(
            RequestView(
                id=r[0], type=r[1], text=r[2][:REQUEST_PREVIEW], created=r[3],
                status="answered" if r[5] is not None else "delivered" if r[4] else "waiting",
                reply=r[5] or "", reply_by=r[6] or "",
            )
            for r in rows
        )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def _write(self, sql: str, params: tuple[object, ...]) -> None:
        try:
            with self._lock, self._conn:
                self._conn.execute(sql, params)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple[Any, ...]]:
        try:
            with self._lock:
                return list(self._conn.execute(sql, params).fetchall())
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc
