"""The agent's durable state: SQLite, WAL with synchronous=FULL so a power cut
never loses an applied document (docs/architecture.md).

It keeps, per topic, the one document applied (version, digest, the signed envelope) and an audit
trail. The lock is not stored: it is derived from the applied documents (`agent.lock`), so the two
can never disagree. Every write is one transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wire.envelope import AppliedMark

AUDIT_KEEP = 10_000
"""Audit rows kept on the tablet; older ones are pruned (the gateway keeps the durable trail)."""


class StoreError(Exception):
    """The store cannot be read or written: the agent must fail closed."""


class DiskFull(StoreError):
    """A write found no space: nothing of it was kept. Unlike other store errors this one passes
    when space returns, so the agent keeps what tightens in memory and writes it again later."""


def _write_error(path: Path, exc: sqlite3.Error) -> StoreError:
    if getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL:
        return DiskFull(f"{path}: no space left on the tablet's disk")
    return StoreError(f"{path}: {exc}")


@dataclass(frozen=True, slots=True)
class StoredDocument:
    topic: str
    version: int
    digest: str
    envelope: bytes

    @property
    def mark(self) -> AppliedMark:
        return AppliedMark(self.version, self.digest)

    def body(self) -> bytes:
        """The signed body, checked against its digest (a corrupted row raises StoreError)."""
        try:
            body = json.loads(self.envelope)["body"].encode("utf-8")
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StoreError(f"stored {self.topic} document is unreadable") from exc
        if hashlib.sha256(body).hexdigest() != self.digest:
            raise StoreError(f"stored {self.topic} document does not match its digest")
        return body


@dataclass(frozen=True, slots=True)
class AuditRow:
    at: int
    event: str
    topic: str
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class ResetMark:
    """The tablet's user data was wiped at `at`: it stays locked ("this tablet was reset") until
    a desired state newer than `floor` is applied, and only if the wipe was `complete`."""

    at: int
    floor: int
    complete: bool


class _Db:
    """The connection in autocommit mode (each statement its own transaction) and `atomic()`,
    one transaction around a block: an apply and its audit row commit together or not at all.
    (Plain sqlite3 rather than sqlite-utils, which brings click, pluggy and dateutil with it:
    megabytes an idle tablet would carry for two CREATE TABLEs.)"""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        return self.conn.execute(sql, params)

    @contextlib.contextmanager
    def atomic(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.conn.close()


class Store:
    """One agent's state.db. Used from one thread at a time (the agent hands writes to a worker
    thread so an fsync never stalls the event loop, but never two at once).

    Every write runs inside `db.atomic()`: each `execute` commits on its own unless a
    transaction is open, so a plain `with conn:` block would split an apply from its audit row."""

    def __init__(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            conn.row_factory = sqlite3.Row
            self._db = _Db(conn)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            check = self._db.execute("PRAGMA quick_check").fetchone()
            if check is None or check[0] != "ok":
                raise StoreError(f"{path}: integrity check failed: {check}")
            with self._db.atomic():
                # The schemas sqlite-utils made for these two before: existing files match.
                self._db.execute("CREATE TABLE IF NOT EXISTS [applied] ([topic] TEXT PRIMARY"
                                 " KEY, [version] INTEGER NOT NULL, [digest] TEXT NOT NULL,"
                                 " [envelope] BLOB NOT NULL)")
                self._db.execute("CREATE TABLE IF NOT EXISTS [audit] ([id] INTEGER PRIMARY"
                                 " KEY, [at] INTEGER, [event] TEXT, [topic] TEXT,"
                                 " [reason] TEXT, [detail] TEXT)")
                # One-off jobs run (agent.jobs): an id here is never run again.
                self._db.execute("CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY,"
                                 " kind TEXT NOT NULL, state TEXT NOT NULL, at INTEGER NOT NULL)")
                # The tablet was wiped: locked until a newer desired state (`complete` 0: the
                # wipe did not finish, locked until a wipe does).
                self._db.execute("CREATE TABLE IF NOT EXISTS reset (one INTEGER PRIMARY KEY"
                                 " CHECK (one = 1), at INTEGER NOT NULL, floor INTEGER NOT NULL,"
                                 " complete INTEGER NOT NULL)")
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{path}: {exc}") from exc
        self.path = path
        self._lock = threading.Lock()  # close() waits for a write still running in a worker

    def applied(self) -> dict[str, StoredDocument]:
        """Every applied document by topic."""
        try:
            return {
                row["topic"]: StoredDocument(
                    row["topic"], row["version"], row["digest"], bytes(row["envelope"])
                )
                for row in self._db.execute(
                    "SELECT topic, version, digest, envelope FROM applied").fetchall()
            }
        except (sqlite3.Error, KeyError, TypeError) as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

    def apply(self, document: StoredDocument, audit: AuditRow | None = None) -> None:
        """Record `document` as the applied one of its topic, with its audit row, atomically."""
        row = {
            "topic": document.topic,
            "version": document.version,
            "digest": document.digest,
            "envelope": document.envelope,
        }
        try:
            with self._lock, self._db.atomic():  # one transaction: both rows or neither
                self._db.execute(
                    "INSERT INTO applied (topic, version, digest, envelope)"
                    " VALUES (:topic, :version, :digest, :envelope)"
                    " ON CONFLICT(topic) DO UPDATE SET version = excluded.version,"
                    " digest = excluded.digest, envelope = excluded.envelope",
                    row,
                )
                if audit is not None:
                    self._insert_audit(audit)
        except sqlite3.Error as exc:
            raise _write_error(self.path, exc) from exc

    def audit(self, *rows: AuditRow) -> None:
        """Append audit rows, in one transaction."""
        try:
            with self._lock, self._db.atomic():
                for row in rows:
                    self._insert_audit(row)
        except sqlite3.Error as exc:
            raise _write_error(self.path, exc) from exc

    def audit_rows(self) -> list[AuditRow]:
        try:
            return [
                AuditRow(r["at"], r["event"], r["topic"], r["reason"], r["detail"])
                for r in self._db.execute(
                    "SELECT at, event, topic, reason, detail FROM audit ORDER BY id").fetchall()
            ]
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc

    def _insert_audit(self, row: AuditRow) -> None:
        last = self._db.execute(
            "INSERT INTO audit (at, event, topic, reason, detail) VALUES (?, ?, ?, ?, ?)",
            [row.at, row.event, row.topic, row.reason, row.detail[:1000]],
        ).lastrowid
        if last is not None and last % 1000 == 0:
            self._db.execute("DELETE FROM audit WHERE id <= ?", [last - AUDIT_KEEP])

    def job_state(self, job_id: str) -> str | None:
        """The state of a job this tablet took (None: never seen)."""
        try:
            row = self._db.execute("SELECT state FROM jobs WHERE id = ?", [job_id]).fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc
        return str(row[0]) if row else None

    def record_job(self, job_id: str, kind: str, state: str, at: int,
                   audit: AuditRow | None = None) -> None:
        """Record a job's state (and its audit row) in one transaction."""
        try:
            with self._lock, self._db.atomic():
                self._db.execute(
                    "INSERT INTO jobs (id, kind, state, at) VALUES (?, ?, ?, ?)"
                    " ON CONFLICT(id) DO UPDATE SET state = excluded.state, at = excluded.at",
                    [job_id, kind, state, at])
                if audit is not None:
                    self._insert_audit(audit)
        except sqlite3.Error as exc:
            raise _write_error(self.path, exc) from exc

    def reset_mark(self) -> ResetMark | None:
        try:
            row = self._db.execute("SELECT at, floor, complete FROM reset").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: {exc}") from exc
        return ResetMark(int(row[0]), int(row[1]), bool(row[2])) if row else None

    def set_reset(self, mark: ResetMark | None) -> None:
        """Record (or, with None, clear) that the tablet was wiped."""
        try:
            with self._lock, self._db.atomic():
                self._db.execute("DELETE FROM reset")
                if mark is not None:
                    self._db.execute("INSERT INTO reset (one, at, floor, complete)"
                                     " VALUES (1, ?, ?, ?)",
                                     [mark.at, mark.floor, int(mark.complete)])
        except sqlite3.Error as exc:
            raise _write_error(self.path, exc) from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()
