"""The prison's view: each wing's link, its tablets as they last reported, the commands the
prison issued and each wing's answer, and each wing's audit trail as received.

One store, two backends: SQLite (the default, a file under `state_dir`, WAL) and PostgreSQL
(`postgresql = "<DSN>"` in the prison configuration, psycopg 3). The SQL is written once, in the
dialect both accept (`INSERT … ON CONFLICT`), with `?` parameters; a backend only opens the
connection, maps the few column types and parameter style, and runs transactions. The schema is
the list of migrations in `MIGRATIONS`, applied in order and recorded in `schema_version`.

The service writes what arrives; the CLI (another process) adds commands and reads the view.
Every write is one short transaction: a change and what depends on it commit together or not at
all (a command's version is chosen and the command recorded in one transaction, so two
concurrent `prison lock` runs cannot take the same version).
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from common.staff_web.accounts import TABLE as ACCOUNTS_TABLE
from wire.audit_chain import ChainCheck, check_chain, detail_text, load_detail
from wire.documents import ReportedState, Status
from wire.prison import Applied, AuditUp, WingSummary

# Each migration is a list of statements; {int} {bytes} name the backend's column types. The first
# one's `IF NOT EXISTS` adopts a store made before migrations were recorded (the same tables).
MIGRATIONS: list[list[str]] = [
    [
        "CREATE TABLE IF NOT EXISTS links (wing TEXT PRIMARY KEY, up {int} NOT NULL, "
        "since {int} NOT NULL)",
        "CREATE TABLE IF NOT EXISTS tablets (wing TEXT NOT NULL, device TEXT NOT NULL, "
        "online {int} NOT NULL, status_at {int} NOT NULL, locked {int} NOT NULL, "
        "lockdown_version {int} NOT NULL, curfew TEXT NOT NULL, reported_at {int} NOT NULL, "
        "PRIMARY KEY (wing, device))",
        "CREATE TABLE IF NOT EXISTS commands (version {int} PRIMARY KEY, locked {int} NOT NULL, "
        "by TEXT NOT NULL, reason TEXT NOT NULL, issued {int} NOT NULL, expires {int} NOT NULL, "
        "envelope {bytes} NOT NULL)",
        "CREATE TABLE IF NOT EXISTS applied (wing TEXT PRIMARY KEY, "
        "command_version {int} NOT NULL, lockdown_version {int} NOT NULL, targets TEXT NOT NULL, "
        "refused TEXT NOT NULL, at {int} NOT NULL)",
        "CREATE TABLE IF NOT EXISTS audit (wing TEXT NOT NULL, seq {int} NOT NULL, "
        "at {int} NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, "
        "detail TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL, PRIMARY KEY (wing, seq))",
    ],
    [  # 2: each wing gateway's summary of its wing (counts, rollout progress), the newest
        "CREATE TABLE summaries (wing TEXT PRIMARY KEY, at {int} NOT NULL, body TEXT NOT NULL)",
    ],
    [  # 3: requests to lift the prison lockdown, waiting for a second person (lift_requests.py)
        "CREATE TABLE lift_requests (id TEXT PRIMARY KEY, reason TEXT NOT NULL, "
        "requested_by TEXT NOT NULL, requested_at {int} NOT NULL, answered_by TEXT NOT NULL, "
        "answered_at {int} NOT NULL, command_version {int} NOT NULL)",
    ],
    [  # 4: the prison console's staff accounts, and what its accounts did (prison/console/)
        ACCOUNTS_TABLE.format(if_not_exists="", int="{int}"),
        "CREATE TABLE console_events (at {int} NOT NULL, actor TEXT NOT NULL, "
        "action TEXT NOT NULL, target TEXT NOT NULL, detail TEXT NOT NULL)",
        "CREATE INDEX console_events_at ON console_events (at)",
    ],
]
SCHEMA_VERSION = len(MIGRATIONS)


class StoreError(RuntimeError):
    """The store cannot be opened or used (unreachable server, newer schema, …)."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or written just now (the PostgreSQL server went away, a disk
    error or a full disk under SQLite). Nothing of the failed call was kept; the next call tries
    again (the PostgreSQL backend reconnects), so it may come back by itself."""


SQLITE_TRANSIENT = {5: "busy", 6: "locked", 8: "read-only", 10: "disk I/O error",
                    13: "disk full", 14: "cannot open", 15: "locking protocol"}
"""SQLite primary result codes that mean the file cannot be used now, not that our SQL is wrong."""


@contextlib.contextmanager
def _sqlite_errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as exc:
        code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
        if code in SQLITE_TRANSIENT:
            raise StoreUnavailable(f"SQLite store unavailable: {exc}") from exc
        raise


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


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Backend(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def types(self) -> Mapping[str, str]:
        """Column types by the names the migrations use: {int}, {bytes}."""
        ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor: ...

    def transaction(self) -> contextlib.AbstractContextManager[None]:
        """A write transaction, exclusive against other writers for its duration."""
        ...

    def close(self) -> None: ...


class SqliteBackend:
    name: ClassVar[str] = "sqlite"
    types: ClassVar[Mapping[str, str]] = {"int": "INTEGER", "bytes": "BLOB"}

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.connection = sqlite3.connect(path, check_same_thread=False, timeout=10,
                                          isolation_level=None)
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("PRAGMA busy_timeout=10000")

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        with _sqlite_errors():
            return self.connection.execute(sql, tuple(params))

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self.connection.in_transaction:  # nested: part of the outer one
            yield
            return
        with _sqlite_errors():
            self.connection.execute("BEGIN IMMEDIATE")
            try:
                yield
                self.connection.execute("COMMIT")
            except BaseException:
                # SQLite may have rolled back already (a full disk, an I/O error).
                if self.connection.in_transaction:
                    self.connection.execute("ROLLBACK")
                raise

    def close(self) -> None:
        self.connection.close()


class PostgresBackend:
    name: ClassVar[str] = "postgresql"
    types: ClassVar[Mapping[str, str]] = {"int": "BIGINT", "bytes": "BYTEA"}

    def __init__(self, dsn: str) -> None:
        try:
            import psycopg
        except ImportError as exc:
            raise StoreError("PostgreSQL needs psycopg: pip install 'cellbridge[prison]'") from exc
        self._psycopg = psycopg
        self._dsn = dsn
        self._connection: Any = None
        self._depth = 0
        self._connect()

    def _connect(self) -> Any:
        psycopg = self._psycopg
        try:
            self._connection = psycopg.connect(self._dsn, autocommit=True, connect_timeout=10,
                                               application_name="cellbridge-prison")
        except psycopg.Error as exc:
            raise StoreUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc
        return self._connection

    @property
    def connection(self) -> Any:
        """The open connection; a new one when the last was lost (the server went away)."""
        if self._connection is None or self._connection.closed:
            return self._connect()
        return self._connection

    @contextlib.contextmanager
    def _lost_connection(self) -> Iterator[None]:
        psycopg = self._psycopg
        try:
            yield
        except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
            # The server went away (shut down, restarted, network): drop the connection; the
            # next call connects again.
            connection, self._connection = self._connection, None
            if connection is not None:
                with contextlib.suppress(psycopg.Error):
                    connection.close()
            raise StoreUnavailable(f"PostgreSQL unavailable: {exc}") from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        query: Any = sql.replace("?", "%s")  # our SQL holds no other `?` or `%`
        with self._lost_connection():
            return self.connection.execute(query, tuple(params))  # type: ignore[no-any-return]

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            yield
            return
        self._depth += 1
        try:
            with self._lost_connection():
                connection = self.connection
                with connection.transaction():
                    # One writer at a time, as SQLite's BEGIN IMMEDIATE: a read-then-write (the
                    # next command version, a link's change) cannot interleave with another's.
                    connection.execute("SELECT pg_advisory_xact_lock(20200)")
                    yield
        finally:
            self._depth -= 1

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()


class PrisonStore:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._migrate()

    def close(self) -> None:
        self.backend.close()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """One statement, `?` parameters (for maintenance and tests)."""
        return self.backend.execute(sql, params)

    def ping(self) -> None:
        """Raise StoreUnavailable unless the store answers now (reconnecting if it must)."""
        self.execute("SELECT 1").fetchone()

    def schema_version(self) -> int:
        row = self.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def _migrate(self) -> None:
        backend = self.backend
        with backend.transaction():
            backend.execute("CREATE TABLE IF NOT EXISTS schema_version "
                            f"(version {backend.types['int']} PRIMARY KEY)")
            current = self.schema_version()
            if current > SCHEMA_VERSION:
                raise StoreError(f"the prison store has schema {current}, newer than this "
                                 f"program's {SCHEMA_VERSION}: upgrade the program")
            for number in range(current + 1, SCHEMA_VERSION + 1):
                for statement in MIGRATIONS[number - 1]:
                    backend.execute(statement.format(**backend.types))
                backend.execute("INSERT INTO schema_version (version) VALUES (?)", [number])

    # -- what arrives ------------------------------------------------------------------------

    def set_link(self, wing: str, up: bool, now: int) -> bool:
        """Record the link's state; True when it changed (then `since` is now)."""
        with self.backend.transaction():
            current = self.link(wing)
            if current is not None and current.up == up:
                return False
            self.execute("INSERT INTO links (wing, up, since) VALUES (?, ?, ?) ON CONFLICT (wing) "
                         "DO UPDATE SET up=excluded.up, since=excluded.since",
                         [wing, int(up), now])
            return True

    def put_reported(self, wing: str, report: ReportedState) -> None:
        """Keep the tablet's newest report (a snapshot may arrive after a newer direct one)."""
        self.execute(
            "INSERT INTO tablets (wing, device, online, status_at, locked, lockdown_version, "
            "curfew, reported_at) VALUES (?, ?, 0, 0, ?, ?, ?, ?) ON CONFLICT (wing, device) "
            "DO UPDATE SET locked=excluded.locked, lockdown_version=excluded.lockdown_version, "
            "curfew=excluded.curfew, reported_at=excluded.reported_at "
            "WHERE excluded.reported_at >= tablets.reported_at",
            [wing, report.device, int(report.lock.locked), report.lockdown_version,
             report.curfew, report.at])

    def put_status(self, wing: str, device: str, status: Status) -> None:
        self.execute(
            "INSERT INTO tablets (wing, device, online, status_at, locked, lockdown_version, "
            "curfew, reported_at) VALUES (?, ?, ?, ?, 0, 0, 'unknown', 0) "
            "ON CONFLICT (wing, device) DO UPDATE SET online=excluded.online, "
            "status_at=excluded.status_at WHERE excluded.status_at >= tablets.status_at",
            [wing, device, int(status.state == "online"), status.at])

    def put_applied(self, wing: str, applied: Applied) -> None:
        self.execute(
            "INSERT INTO applied (wing, command_version, lockdown_version, targets, refused, at) "
            "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (wing) DO UPDATE SET "
            "command_version=excluded.command_version, "
            "lockdown_version=excluded.lockdown_version, targets=excluded.targets, "
            "refused=excluded.refused, at=excluded.at",
            [wing, applied.command_version, applied.lockdown_version,
             json.dumps(list(applied.targets)), applied.refused, applied.at])

    def put_summary(self, wing: str, summary: WingSummary) -> None:
        """Keep the wing's newest summary (a re-queued older one does not replace it)."""
        self.execute(
            "INSERT INTO summaries (wing, at, body) VALUES (?, ?, ?) ON CONFLICT (wing) DO UPDATE "
            "SET at=excluded.at, body=excluded.body WHERE excluded.at >= summaries.at",
            [wing, summary.at, summary.model_dump_json()])

    def put_audit(self, wing: str, entry: AuditUp) -> bool:
        """Keep an entry once (a re-sent one is ignored); True if it was new."""
        cursor = self.execute(
            "INSERT INTO audit (wing, seq, at, actor, action, target, detail, prev, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (wing, seq) DO NOTHING",
            [wing, entry.seq, entry.at, entry.actor, entry.action, entry.target,
             detail_text(entry.detail), entry.prev, entry.hash])
        return cursor.rowcount == 1

    # -- commands ----------------------------------------------------------------------------

    def add_command(self, make: Callable[[int], Command]) -> Command:
        """Record the command `make(version)` builds for the next version, in one transaction
        (the version is taken and the command kept together, or neither)."""
        with self.backend.transaction():
            row = self.execute("SELECT MAX(version) FROM commands").fetchone()
            command = make(int(row[0] or 0) + 1)
            self.execute(
                "INSERT INTO commands (version, locked, by, reason, issued, expires, envelope) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                [command.version, int(command.locked), command.by, command.reason,
                 command.issued, command.expires, command.envelope])
            return command

    def latest_command(self) -> Command | None:
        row = self.execute(
            "SELECT version, locked, by, reason, issued, expires, envelope FROM commands "
            "ORDER BY version DESC LIMIT 1").fetchone()
        return _command(row) if row else None

    def command(self, version: int) -> Command | None:
        row = self.execute(
            "SELECT version, locked, by, reason, issued, expires, envelope FROM commands "
            "WHERE version = ?", [version]).fetchone()
        return _command(row) if row else None

    # -- the view ------------------------------------------------------------------------------

    def link(self, wing: str) -> Link | None:
        row = self.execute("SELECT up, since FROM links WHERE wing = ?", [wing]).fetchone()
        return Link(wing, bool(row[0]), row[1]) if row else None

    def tablets(self, wing: str | None = None) -> list[TabletRow]:
        sql = ("SELECT wing, device, online, locked, lockdown_version, curfew, reported_at "
               "FROM tablets")
        rows = self.execute(sql + (" WHERE wing = ?" if wing else "") + " ORDER BY wing, device",
                            [wing] if wing else []).fetchall()
        return [TabletRow(r[0], r[1], bool(r[2]), bool(r[3]), r[4], r[5], r[6]) for r in rows]

    def applied(self, wing: str) -> Applied | None:
        row = self.execute(
            "SELECT command_version, lockdown_version, targets, refused, at FROM applied "
            "WHERE wing = ?", [wing]).fetchone()
        if row is None:
            return None
        return Applied(command_version=row[0], lockdown_version=row[1],
                       targets=tuple(json.loads(row[2])), refused=row[3], at=row[4])

    def summary(self, wing: str) -> WingSummary | None:
        row = self.execute("SELECT body FROM summaries WHERE wing = ?", [wing]).fetchone()
        return WingSummary.model_validate_json(row[0]) if row else None

    def audit_head(self, wing: str) -> tuple[int, str]:
        """The last entry of the wing's trail held without a gap: (seq, hash), (0, "") if none."""
        first = self.execute("SELECT 1 FROM audit WHERE wing = ? AND seq = 1", [wing]).fetchone()
        if first is None:
            return 0, ""
        row = self.execute(
            "SELECT seq, hash FROM audit AS a WHERE wing = ? AND NOT EXISTS (SELECT 1 FROM audit "
            "AS b WHERE b.wing = a.wing AND b.seq = a.seq + 1) ORDER BY seq LIMIT 1",
            [wing]).fetchone()
        return int(row[0]), str(row[1])

    def audit_count(self, wing: str) -> int:
        return int(self.execute("SELECT COUNT(*) FROM audit WHERE wing = ?",
                                [wing]).fetchone()[0])

    def audit_entries(self, wing: str) -> Iterator[AuditUp]:
        rows = self.execute(
            "SELECT seq, at, actor, action, target, detail, prev, hash FROM audit "
            "WHERE wing = ? ORDER BY seq", [wing]).fetchall()
        for row in rows:
            yield AuditUp(seq=row[0], at=row[1], actor=row[2], action=row[3], target=row[4],
                          detail=load_detail(row[5]), prev=row[6], hash=row[7])

    def verify_audit(self, wing: str) -> ChainCheck:
        """Check the wing's hash chain as the prison holds it, from its first entry: an entry
        missing, altered, or not following the one before is named (`wire.audit_chain`)."""
        rows = self.execute(
            "SELECT seq, at, actor, action, target, detail, prev, hash FROM audit "
            "WHERE wing = ? ORDER BY seq", [wing]).fetchall()
        # The hash covers the detail's canonical text: recompute it from what is stored (rows
        # written before the prison stored that text hold the same JSON, spaced differently).
        return check_chain((r[0], r[1], r[2], r[3], r[4], detail_text(load_detail(r[5])), r[6],
                            r[7]) for r in rows)


def _command(row: Sequence[Any]) -> Command:
    return Command(row[0], bool(row[1]), row[2], row[3], row[4], row[5], bytes(row[6]))


def open_store(sqlite_path: Path, dsn: str | None = None) -> PrisonStore:
    """PostgreSQL when a DSN is configured, else SQLite at `sqlite_path`."""
    backend: Backend = PostgresBackend(dsn) if dsn else SqliteBackend(sqlite_path)
    try:
        return PrisonStore(backend)
    except BaseException:
        backend.close()
        raise
