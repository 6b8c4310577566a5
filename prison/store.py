"""The prison's view (SQLite, WAL): each wing's link, its tablets as they last reported, the
commands the prison issued and each wing's answer, and each wing's audit trail as received.

The service writes what arrives; the CLI (another process) adds commands and reads the view, so
every write is one short transaction and readers wait for writers (`busy_timeout`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlite_utils

from wire.documents import ReportedState, Status
from wire.prison import Applied, AuditUp

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Command:
    version: int
    locked: bool
    by: str
    reason: str
    issued: int
    expires: int
    envelope: bytes


@dataclass(frozen=True, slots=True)
class Link:
    wing: str
    up: bool
    since: int


@dataclass(frozen=True, slots=True)
class TabletRow:
    wing: str
    device: str
    online: bool
    locked: bool
    lockdown_version: int
    curfew: str
    reported_at: int


class PrisonStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(path, check_same_thread=False, timeout=10,
                                     isolation_level=None)
        self.db = sqlite_utils.Database(connection)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA busy_timeout=10000")
        self._create()

    def close(self) -> None:
        self.db.close()

    def _create(self) -> None:
        db = self.db
        db.table("links").create({"wing": str, "up": int, "since": int}, pk="wing",
                                 if_not_exists=True)
        db.table("tablets").create(
            {"wing": str, "device": str, "online": int, "status_at": int, "locked": int,
             "lockdown_version": int, "curfew": str, "reported_at": int}, pk=("wing", "device"),
            if_not_exists=True)
        db.table("commands").create(
            {"version": int, "locked": int, "by": str, "reason": str, "issued": int,
             "expires": int, "envelope": bytes}, pk="version", if_not_exists=True)
        db.table("applied").create(
            {"wing": str, "command_version": int, "lockdown_version": int, "targets": str,
             "refused": str, "at": int}, pk="wing", if_not_exists=True)
        db.table("audit").create(
            {"wing": str, "seq": int, "at": int, "actor": str, "action": str, "target": str,
             "detail": str, "prev": str, "hash": str}, pk=("wing", "seq"), if_not_exists=True)
        db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    # -- what arrives ------------------------------------------------------------------------

    def set_link(self, wing: str, up: bool, now: int) -> bool:
        """Record the link's state; True when it changed (then `since` is now)."""
        current = self.link(wing)
        if current is not None and current.up == up:
            return False
        self.db.table("links").upsert({"wing": wing, "up": int(up), "since": now}, pk="wing")
        return True

    def put_reported(self, wing: str, report: ReportedState) -> None:
        """Keep the tablet's newest report (a snapshot may arrive after a newer direct one)."""
        self.db.execute(
            "INSERT INTO tablets (wing, device, online, status_at, locked, lockdown_version, "
            "curfew, reported_at) VALUES (?, ?, 0, 0, ?, ?, ?, ?) ON CONFLICT (wing, device) "
            "DO UPDATE SET locked=excluded.locked, lockdown_version=excluded.lockdown_version, "
            "curfew=excluded.curfew, reported_at=excluded.reported_at "
            "WHERE excluded.reported_at >= tablets.reported_at",
            [wing, report.device, int(report.lock.locked), report.lockdown_version,
             report.curfew, report.at])

    def put_status(self, wing: str, device: str, status: Status) -> None:
        self.db.execute(
            "INSERT INTO tablets (wing, device, online, status_at, locked, lockdown_version, "
            "curfew, reported_at) VALUES (?, ?, ?, ?, 0, 0, 'unknown', 0) "
            "ON CONFLICT (wing, device) DO UPDATE SET online=excluded.online, "
            "status_at=excluded.status_at WHERE excluded.status_at >= tablets.status_at",
            [wing, device, int(status.state == "online"), status.at])

    def put_applied(self, wing: str, applied: Applied) -> None:
        self.db.table("applied").upsert({
            "wing": wing, "command_version": applied.command_version,
            "lockdown_version": applied.lockdown_version,
            "targets": json.dumps(list(applied.targets)), "refused": applied.refused,
            "at": applied.at}, pk="wing")

    def put_audit(self, wing: str, entry: AuditUp) -> bool:
        """Keep an entry once (a re-sent one is ignored); True if it was new."""
        cursor = self.db.execute(
            "INSERT OR IGNORE INTO audit (wing, seq, at, actor, action, target, detail, prev, "
            "hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [wing, entry.seq, entry.at, entry.actor, entry.action, entry.target,
             json.dumps(entry.detail, sort_keys=True), entry.prev, entry.hash])
        return cursor.rowcount == 1

    # -- commands ----------------------------------------------------------------------------

    def add_command(self, command: Command) -> None:
        self.db.table("commands").insert({
            "version": command.version, "locked": int(command.locked), "by": command.by,
            "reason": command.reason, "issued": command.issued, "expires": command.expires,
            "envelope": command.envelope})

    def next_version(self) -> int:
        row = self.db.execute("SELECT MAX(version) FROM commands").fetchone()
        return int(row[0] or 0) + 1

    def latest_command(self) -> Command | None:
        row = self.db.execute(
            "SELECT version, locked, by, reason, issued, expires, envelope FROM commands "
            "ORDER BY version DESC LIMIT 1").fetchone()
        if row is None:
            return None
        return Command(row[0], bool(row[1]), row[2], row[3], row[4], row[5], bytes(row[6]))

    # -- the view ------------------------------------------------------------------------------

    def link(self, wing: str) -> Link | None:
        row = self.db.execute("SELECT up, since FROM links WHERE wing = ?", [wing]).fetchone()
        return Link(wing, bool(row[0]), row[1]) if row else None

    def tablets(self, wing: str | None = None) -> list[TabletRow]:
        sql = ("SELECT wing, device, online, locked, lockdown_version, curfew, reported_at "
               "FROM tablets")
        rows = self.db.execute(sql + (" WHERE wing = ?" if wing else "") + " ORDER BY wing, device",
                               [wing] if wing else []).fetchall()
        return [TabletRow(r[0], r[1], bool(r[2]), bool(r[3]), r[4], r[5], r[6]) for r in rows]

    def applied(self, wing: str) -> Applied | None:
        row = self.db.execute(
            "SELECT command_version, lockdown_version, targets, refused, at FROM applied "
            "WHERE wing = ?", [wing]).fetchone()
        if row is None:
            return None
        return Applied(command_version=row[0], lockdown_version=row[1],
                       targets=tuple(json.loads(row[2])), refused=row[3], at=row[4])

    def audit_head(self, wing: str) -> tuple[int, str]:
        """The last entry of the wing's trail held without a gap: (seq, hash), (0, "") if none."""
        first = self.db.execute("SELECT 1 FROM audit WHERE wing = ? AND seq = 1",
                                [wing]).fetchone()
        if first is None:
            return 0, ""
        row = self.db.execute(
            "SELECT seq, hash FROM audit AS a WHERE wing = ? AND NOT EXISTS (SELECT 1 FROM audit "
            "AS b WHERE b.wing = a.wing AND b.seq = a.seq + 1) ORDER BY seq LIMIT 1",
            [wing]).fetchone()
        return int(row[0]), str(row[1])

    def audit_count(self, wing: str) -> int:
        return int(self.db.execute("SELECT COUNT(*) FROM audit WHERE wing = ?",
                                   [wing]).fetchone()[0])

    def audit_entries(self, wing: str) -> Iterator[AuditUp]:
        for row in self.db.execute(
                "SELECT seq, at, actor, action, target, detail, prev, hash FROM audit "
                "WHERE wing = ? ORDER BY seq", [wing]):
            yield AuditUp(seq=row[0], at=row[1], actor=row[2], action=row[3], target=row[4],
                          detail=json.loads(row[5]), prev=row[6], hash=row[7])
