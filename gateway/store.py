"""The gateway's durable record (SQLite, WAL, synchronous FULL): tablets, desired state, the wing
lockdown, what tablets reported, their last status, and the hash-chained audit trail.

The broker is a transport that forgets; this file is what the gateway re-publishes from. One
process owns it (the gateway), so the audit chain's head is kept in memory between appends.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import sqlite_utils

from wire.documents import DesiredState, ReportedState, Status, WingLockdown
from wire.envelope import canonical_json

GENESIS = "0" * 64
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


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: int
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    prev: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
            "prev": self.prev,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class ChainCheck:
    ok: bool
    entries: int
    broken_at: int | None = None
    problem: str = ""


def entry_hash(
    seq: int, at: int, actor: str, action: str, target: str, detail_text: str, prev: str
) -> str:
    """The hash an audit entry carries: it covers the entry and its predecessor's hash."""
    fields = {
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "target": target,
        "detail": detail_text,
        "prev": prev,
    }
    return hashlib.sha256(canonical_json(fields)).hexdigest()


def _detail_text(detail: dict[str, Any]) -> str:
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class StoreError(Exception):
    """The store cannot be used (unreadable, or a rule of the record would be broken)."""


class Store:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite_utils.Database(path)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self._create()
        head = self.db.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
        self._head_seq: int = head[0] if head else 0
        self._head_hash: str = head[1] if head else GENESIS

    def close(self) -> None:
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

    # -- tablets ---------------------------------------------------------------------------

    def add_tablet(self, tablet: Tablet, now_ms: int) -> bool:
        """Register (or move) a tablet; True if this changed anything."""
        existing = self.tablet(tablet.id)
        if existing == tablet:
            return False
        with self.db.conn:
            self.db.execute(
                "INSERT INTO tablets (id, cell, landing, registered) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(id) DO UPDATE SET cell=excluded.cell, landing=excluded.landing",
                [tablet.id, tablet.cell, tablet.landing, now_ms],
            )
        return True

    def tablet(self, device_id: str) -> Tablet | None:
        row = self.db.execute(
            "SELECT id, cell, landing FROM tablets WHERE id = ?", [device_id]
        ).fetchone()
        return Tablet(*row) if row else None

    def tablets(self) -> list[Tablet]:
        rows = self.db.execute("SELECT id, cell, landing FROM tablets ORDER BY id").fetchall()
        return [Tablet(*row) for row in rows]

    # -- signed documents ------------------------------------------------------------------

    def put_desired(self, documents: Iterable[StoredDocument[DesiredState]]) -> None:
        """Record new desired documents in one transaction (before anything is published)."""
        with self.db.conn:
            for stored in documents:
                doc = stored.document
                if not isinstance(doc, DesiredState):
                    raise StoreError("put_desired takes desired-state documents")
                self.db.execute(
                    "INSERT OR REPLACE INTO desired (device, version, locked, body, envelope, "
                    "expires) VALUES (?, ?, ?, ?, ?, ?)",
                    [doc.audience.split(":", 1)[1], doc.version, int(doc.lock.locked),
                     doc.model_dump_json(), stored.envelope, doc.expires],
                )

    def desired(self) -> dict[str, StoredDocument[DesiredState]]:
        rows = self.db.execute("SELECT device, body, envelope FROM desired").fetchall()
        return {
            device: StoredDocument(DesiredState.model_validate_json(body), bytes(envelope))
            for device, body, envelope in rows
        }

    def put_lockdown(self, stored: StoredDocument[WingLockdown]) -> None:
        doc = stored.document
        if not isinstance(doc, WingLockdown):
            raise StoreError("put_lockdown takes a wing lockdown")
        with self.db.conn:
            self.db.execute(
                "INSERT OR REPLACE INTO lockdown (wing, version, locked, body, envelope, expires) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                [doc.audience.split(":", 1)[1], doc.version, int(doc.lock.locked),
                 doc.model_dump_json(), stored.envelope, doc.expires],
            )

    def lockdown(self, wing: str) -> StoredDocument[WingLockdown] | None:
        row = self.db.execute(
            "SELECT body, envelope FROM lockdown WHERE wing = ?", [wing]
        ).fetchone()
        if row is None:
            return None
        return StoredDocument(WingLockdown.model_validate_json(row[0]), bytes(row[1]))

    # -- what tablets said -----------------------------------------------------------------

    def put_observations(
        self,
        reported: Iterable[tuple[ReportedState, int]],
        statuses: Iterable[tuple[str, Status, int]],
    ) -> None:
        """Write a batch of reported states and statuses in one transaction (one fsync)."""
        with self.db.conn:
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
        rows = self.db.execute("SELECT device, document FROM reported").fetchall()
        return {device: ReportedState.model_validate_json(doc) for device, doc in rows}

    def statuses(self) -> dict[str, TabletStatus]:
        rows = self.db.execute("SELECT device, state, boot_id, last_seen FROM status").fetchall()
        return {row[0]: TabletStatus(row[1], row[2], row[3]) for row in rows}

    # -- audit -----------------------------------------------------------------------------

    def audit(
        self, at: int, actor: str, action: str, target: str, detail: dict[str, Any] | None = None
    ) -> AuditEntry:
        """Append one entry to the hash chain, durably."""
        text = _detail_text(detail or {})
        seq = self._head_seq + 1
        digest = entry_hash(seq, at, actor, action, target, text, self._head_hash)
        with self.db.conn:
            self.db.execute(
                "INSERT INTO audit (seq, at, actor, action, target, detail, prev, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [seq, at, actor, action, target, text, self._head_hash, digest],
            )
        entry = AuditEntry(seq, at, actor, action, target, detail or {}, self._head_hash, digest)
        self._head_seq, self._head_hash = seq, digest
        return entry

    def _audit_rows(self) -> Iterator[tuple[Any, ...]]:
        yield from self.db.execute(
            "SELECT seq, at, actor, action, target, detail, prev, hash FROM audit ORDER BY seq"
        )

    def audit_entries(self, limit: int | None = None) -> list[AuditEntry]:
        """The newest `limit` entries (all when None), oldest first."""
        sql = "SELECT seq, at, actor, action, target, detail, prev, hash FROM audit"
        if limit is not None:
            sql += f" ORDER BY seq DESC LIMIT {int(limit)}"
        rows = self.db.execute(sql).fetchall()
        rows.sort(key=lambda r: r[0])
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], _load_detail(r[5]), r[6], r[7])
                for r in rows]

    def verify_audit(self) -> ChainCheck:
        """Recompute the chain; say at which entry it first breaks and how."""
        prev, expected_seq, count = GENESIS, 1, 0
        for seq, at, actor, action, target, detail, stored_prev, stored_hash in self._audit_rows():
            if seq != expected_seq:
                return ChainCheck(False, count, seq, f"entry {expected_seq} is missing")
            if stored_prev != prev:
                return ChainCheck(False, count, seq, "does not follow the entry before it")
            if entry_hash(seq, at, actor, action, target, detail, prev) != stored_hash:
                return ChainCheck(False, count, seq, "contents do not match its hash")
            prev, expected_seq, count = stored_hash, seq + 1, count + 1
        return ChainCheck(True, count)


def _load_detail(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"unreadable": text[:200]}
    return value if isinstance(value, dict) else {"value": value}
