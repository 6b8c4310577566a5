"""The gateway's durable record (SQLite, WAL, synchronous FULL): tablets, desired state, the wing
lockdown, what tablets reported, their last status, and the hash-chained audit trail.

The broker is a transport that forgets; this file is what the gateway re-publishes from. One
process owns it (the gateway), so the audit chain's head is kept in memory between appends.

A change and the audit entry that records it are one transaction (`Store.transaction`): both rows
or neither. Every call holds the store's lock, so the gateway hands them all to one worker thread
(`gateway.store_thread`) and its event loop never waits on an fsync.
"""

from __future__ import annotations

import contextlib
import errno
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import sqlite_utils

from gateway.audit_chain import (
    GENESIS,
    Audit,
    AuditEntry,
    ChainCheck,
    check_chain,
    detail_text,
    entry_hash,
    load_detail,
)
from wire.documents import DesiredState, ReportedState, Status, WingLockdown

CHECKPOINTS = "audit_checkpoint"
"""Archived audit entries end at a checkpoint (`gateway.retention`): the live chain follows it."""
UNWRITTEN_MAX = 100
"""Entries for writes lost to a full disk kept (in memory) until there is space to audit them."""
Doc = TypeVar("Doc", DesiredState, WingLockdown)


@dataclass(frozen=True, slots=True)
class Tablet:
    id: str
    cell: str
    landing: str


@dataclass(frozen=True, slots=True)
class StoredDocument(Generic[Doc]):
    """A signed document as published: its parsed body and the exact envelope bytes."""

    document: Doc
    envelope: bytes


@dataclass(frozen=True, slots=True)
class TabletStatus:
    state: str
    boot_id: str
    last_seen: int


class StoreError(Exception):
    """The store cannot be used (unreadable, or a rule of the record would be broken)."""


class DiskFull(StoreError):
    """A write found no space on the gateway's disk: nothing of it was kept (the record is as it
    was), and the store audits the failure with its next write, once there is space again."""

    def __init__(self) -> None:
        super().__init__("the gateway's disk is full: nothing was changed "
                         "(free space on the gateway, then try again)")


def is_disk_full(exc: BaseException) -> bool:
    """SQLite's SQLITE_FULL, or ENOSPC from the file system."""
    if isinstance(exc, sqlite3.Error):
        return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    return isinstance(exc, OSError) and exc.errno == errno.ENOSPC


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite_utils.Database(sqlite3.connect(path, check_same_thread=False))
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self._create()
        head = self.db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        self._head_seq: int = head[0] if head else 0
        self._head_hash: str = head[1] if head else GENESIS
        self._lock = threading.RLock()
        self._unwritten: list[Audit] = []
        """Writes refused for want of space: audited with the next write that succeeds."""

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def _create(self) -> None:
        db = self.db
        db.table("tablets").create(
            {"id": str, "cell": str, "landing": str, "registered": int},
            pk="id",
            if_not_exists=True,
        )
        db.table("desired").create(
            {"device": str, "version": int, "locked": int, "body": str, "envelope": bytes,
             "expires": int},
            pk="device",
            if_not_exists=True,
        )
        db.table("lockdown").create(
            {"wing": str, "version": int, "locked": int, "body": str, "envelope": bytes,
             "expires": int},
            pk="wing",
            if_not_exists=True,
        )
        db.table("reported").create(
            {"device": str, "desired_version": int, "lockdown_version": int, "document": str,
             "received": int},
            pk="device",
            if_not_exists=True,
        )
        db.table("status").create(
            {"device": str, "state": str, "boot_id": str, "last_seen": int},
            pk="device",
            if_not_exists=True,
        )
        db.table("audit").create(
            {"seq": int, "at": int, "actor": str, "action": str, "target": str, "detail": str,
             "prev": str, "hash": str},
            pk="seq",
            if_not_exists=True,
        )
        db.table("tablets").create_index(["cell"], if_not_exists=True)
        db.table("tablets").create_index(["landing"], if_not_exists=True)

    @contextlib.contextmanager
    def transaction(self, *audits: Audit | None) -> Iterator[sqlite_utils.Database]:
        """One transaction: what the caller writes, then `audits` appended to the chain; all
        committed together or, if anything fails, none (and the chain's head unchanged).

        sqlite-utils commits each write on its own unless a transaction is open: `atomic` opens
        one (a plain `with conn:` does not).

        A disk that is full raises DiskFull, with nothing of the transaction kept; the failure
        (and the entries it would have appended) is audited first thing in the next one."""
        with self._lock:
            seq, prev = self._head_seq, self._head_hash
            try:
                with self.db.atomic():
                    yield self.db
                    seq, prev = self._append(seq, prev, [*self._unwritten, *audits])
            except (sqlite3.Error, OSError) as exc:
                if not is_disk_full(exc):
                    raise
                self._note_full(audits)
                raise DiskFull() from exc
            self._head_seq, self._head_hash = seq, prev
            self._unwritten.clear()

    def _append(self, seq: int, prev: str, audits: Iterable[Audit | None]) -> tuple[int, str]:
        for audit in filter(None, audits):
            seq += 1
            text = detail_text(audit.detail)
            digest = entry_hash(seq, audit.at, audit.actor, audit.action, audit.target, text,
                                prev)
            self.db.execute(
                "INSERT INTO audit (seq, at, actor, action, target, detail, prev, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [seq, audit.at, audit.actor, audit.action, audit.target, text, prev, digest],
            )
            prev = digest
        return seq, prev

    def _note_full(self, audits: Iterable[Audit | None]) -> None:
        """Keep an entry saying a write was lost to a full disk, and what it would have said.
        Writes that said nothing (what tablets reported, every few seconds) and any beyond
        `UNWRITTEN_MAX` are counted in the last entry, not each given their own."""
        lost = [{"actor": a.actor, "action": a.action, "target": a.target, "detail": a.detail}
                for a in audits if a is not None]
        if self._unwritten and (not lost or len(self._unwritten) >= UNWRITTEN_MAX):
            last = self._unwritten[-1].detail
            last["failures"] += 1
            last["lost_unlisted"] += len(lost)
            return
        self._unwritten.append(Audit(
            time.time_ns() // 1_000_000, "system", "write_failed_disk_full", "store",
            {"error": "no space left on the gateway's disk: nothing was changed",
             "failures": 1, "lost": lost, "lost_unlisted": 0}))

    def read(self, sql: str, params: Iterable[Any] = ()) -> list[Any]:
        """The rows of one query, under the store's lock (another thread may be writing)."""
        with self._lock:
            return self.db.execute(sql, list(params)).fetchall()

    # -- tablets ---------------------------------------------------------------------------

    def add_tablet(self, tablet: Tablet, now_ms: int, audit: Audit | None = None) -> bool:
        """Register (or move) a tablet, with `audit` if this changed anything; True if it did."""
        return bool(self.add_tablets([tablet], now_ms, lambda _changed: audit))

    def add_tablets(self, tablets: Iterable[Tablet], now_ms: int,
                    audit: Callable[[list[Tablet]], Audit | None] | None = None) -> list[Tablet]:
        """Register (or move) tablets in one transaction, with `audit(changed)` if any changed;
        return those that changed."""
        with self._lock:
            known = {t.id: t for t in self.tablets()}
            changed = [t for t in tablets if known.get(t.id) != t]
            if not changed:
                return []
            with self.transaction(audit(changed) if audit else None):
                for tablet in changed:
                    self.db.execute(
                        "INSERT INTO tablets (id, cell, landing, registered) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT(id) DO UPDATE SET cell=excluded.cell,"
                        " landing=excluded.landing",
                        [tablet.id, tablet.cell, tablet.landing, now_ms],
                    )
        return changed

    def tablet(self, device_id: str) -> Tablet | None:
        rows = self.read("SELECT id, cell, landing FROM tablets WHERE id = ?", [device_id])
        return Tablet(*rows[0]) if rows else None

    def tablets(self) -> list[Tablet]:
        return [Tablet(*r) for r in self.read("SELECT id, cell, landing FROM tablets ORDER BY id")]

    # -- signed documents ------------------------------------------------------------------

    def put_desired(self, documents: Iterable[StoredDocument[DesiredState]],
                    audit: Audit | None = None) -> None:
        """Record new desired documents in one transaction (before anything is published)."""
        self.put_documents(documents, None, audit)

    def put_lockdown(self, stored: StoredDocument[WingLockdown], audit: Audit | None = None
                     ) -> None:
        self.put_documents((), stored, audit)

    def put_documents(self, desired: Iterable[StoredDocument[DesiredState]],
                      lockdown: StoredDocument[WingLockdown] | None, audit: Audit | None
                      ) -> None:
        """Record signed documents and the audit entry that says why, in one transaction."""
        rows: list[tuple[str, StoredDocument[Any]]] = [("desired", s) for s in desired]
        if any(not isinstance(s.document, DesiredState) for _, s in rows):
            raise StoreError("put_desired takes desired-state documents")
        if lockdown is not None:
            if not isinstance(lockdown.document, WingLockdown):
                raise StoreError("put_lockdown takes a wing lockdown")
            rows.append(("lockdown", lockdown))
        with self.transaction(audit):
            for table, stored in rows:
                doc = stored.document
                key = "device" if table == "desired" else "wing"
                self.db.execute(
                    f"INSERT OR REPLACE INTO {table} ({key}, version, locked, body, envelope, "
                    "expires) VALUES (?, ?, ?, ?, ?, ?)",
                    [doc.audience.split(":", 1)[1], doc.version, int(doc.lock.locked),
                     doc.model_dump_json(), stored.envelope, doc.expires],
                )

    def desired(self) -> dict[str, StoredDocument[DesiredState]]:
        return {
            device: StoredDocument(DesiredState.model_validate_json(body), bytes(envelope))
            for device, body, envelope in self.read("SELECT device, body, envelope FROM desired")
        }

    def lockdown(self, wing: str) -> StoredDocument[WingLockdown] | None:
        rows = self.read("SELECT body, envelope FROM lockdown WHERE wing = ?", [wing])
        if not rows:
            return None
        return StoredDocument(WingLockdown.model_validate_json(rows[0][0]), bytes(rows[0][1]))

    # -- what tablets said -----------------------------------------------------------------

    def put_observations(
        self,
        reported: Iterable[tuple[ReportedState, int]],
        statuses: Iterable[tuple[str, Status, int]],
    ) -> None:
        """Write a batch of reported states and statuses in one transaction (one fsync)."""
        with self.transaction():
            for report, received in reported:
                self.db.execute(
                    "INSERT OR REPLACE INTO reported (device, desired_version, lockdown_version, "
                    "document, received) VALUES (?, ?, ?, ?, ?)",
                    [report.device, report.desired_version, report.lockdown_version,
                     report.model_dump_json(), received],
                )
            for device, status, seen in statuses:
                self.db.execute(
                    "INSERT OR REPLACE INTO status (device, state, boot_id, last_seen) "
                    "VALUES (?, ?, ?, ?)",
                    [device, status.state, status.boot_id, seen],
                )

    def reported(self) -> dict[str, ReportedState]:
        rows = self.read("SELECT device, document FROM reported")
        return {device: ReportedState.model_validate_json(doc) for device, doc in rows}

    def statuses(self) -> dict[str, TabletStatus]:
        rows = self.read("SELECT device, state, boot_id, last_seen FROM status")
        return {row[0]: TabletStatus(row[1], row[2], row[3]) for row in rows}

    # -- audit -----------------------------------------------------------------------------

    def audit(
        self, at: int, actor: str, action: str, target: str, detail: dict[str, Any] | None = None
    ) -> None:
        """Append one entry to the hash chain, durably (alone: a change carries its own)."""
        self.append(Audit(at, actor, action, target, detail or {}))

    def append(self, audit: Audit) -> None:
        """Append one entry to the hash chain, durably."""
        with self.transaction(audit):
            pass

    def audit_entries(self, limit: int | None = None) -> list[AuditEntry]:
        """The newest `limit` entries (all when None), oldest first."""
        sql = "SELECT seq, at, actor, action, target, detail, prev, hash FROM audit"
        if limit is not None:
            sql += f" ORDER BY seq DESC LIMIT {int(limit)}"
        rows = self.read(sql)
        rows.sort(key=lambda r: r[0])
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], load_detail(r[5]), r[6], r[7])
                for r in rows]

    def verify_audit(self) -> ChainCheck:
        """Recompute the chain; say at which entry it first breaks and how."""
        prev, expected_seq = GENESIS, 1
        if self.read("SELECT name FROM sqlite_master WHERE name = ?", [CHECKPOINTS]):
            newest = self.read(f"SELECT last, hash FROM {CHECKPOINTS} ORDER BY last DESC LIMIT 1")
            if newest:
                expected_seq, prev = newest[0][0] + 1, newest[0][1]
        rows = self.read("SELECT seq, at, actor, action, target, detail, prev, hash FROM audit "
                         "ORDER BY seq")
        return check_chain(rows, first_seq=expected_seq, prev=prev)
