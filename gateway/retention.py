"""Retention: what keeps a year of a wing on the gateway's disk.

Most of the record does not grow: one row per tablet for its desired state, what it last reported
and its last status (telemetry only moves an in-memory "last seen"). What grows is the audit trail
(every lock, policy, request and refusal) and the requests table. The audit is a hash chain, so
old entries are never simply deleted: they are *archived* — written, in order and whole, to a
compressed JSON-lines file beside the database (fsynced before anything is deleted) — and a
*checkpoint* row records the last archived entry's seq and hash and the archive's SHA-256. The
live chain then starts from the checkpoint (`Store.verify_audit`), and `verify_archives` checks
the whole history: every archive against its checkpoint, from genesis, then the live chain.

Safe beside a running gateway: it never touches the chain's head (the newest entry is always
kept) and appends no audit entry of its own (the gateway holds the head in memory: a second
writer would fork the chain); the checkpoint table is its record. Answered, delivered requests
older than the cut are pruned too (their request and reply stay in the audit trail).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from gateway.audit_chain import GENESIS, ChainCheck, entry_hash
from gateway.store import CHECKPOINTS, Store
from gateway.store_thread import StoreThread

log = logging.getLogger(__name__)
DAY_MS = 86_400_000

COLUMNS = ("seq", "at", "actor", "action", "target", "detail", "prev", "hash")


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Entries `first`..`last` are in `archive` (SHA-256 `archive_sha256`); `hash` is entry
    `last`'s, the `prev` of the first live entry."""

    first: int
    last: int
    hash: str
    archive: str
    archive_sha256: str
    made_at: int


@dataclass(frozen=True, slots=True)
class Compaction:
    checkpoint: Checkpoint | None
    requests_pruned: int


def ensure_table(store: Store) -> None:
    with store.transaction() as db:
        db.execute(
            f"CREATE TABLE IF NOT EXISTS {CHECKPOINTS} (last INTEGER PRIMARY KEY,"
            " first INTEGER NOT NULL, hash TEXT NOT NULL, archive TEXT NOT NULL,"
            " archive_sha256 TEXT NOT NULL, made_at INTEGER NOT NULL)"
        )


def checkpoints(store: Store) -> list[Checkpoint]:
    """Every checkpoint, oldest first."""
    ensure_table(store)
    rows = store.read(f"SELECT first, last, hash, archive, archive_sha256, made_at "
                      f"FROM {CHECKPOINTS} ORDER BY last")
    return [Checkpoint(*row) for row in rows]


def archive_audit(store: Store, archive_dir: Path, before_ms: int,
                  now_ms: int) -> Checkpoint | None:
    """Archive the oldest audit entries made before `before_ms` (a run of them from the start of
    the live chain, never its newest entry); None when there is nothing to archive."""
    ensure_table(store)
    head = store.read("SELECT MAX(seq), MIN(seq) FROM audit")[0]
    if head[0] is None:
        return None
    newest, oldest = head
    younger = store.read("SELECT MIN(seq) FROM audit WHERE at >= ?", [before_ms])[0][0]
    last = min(newest - 1, (younger - 1) if younger is not None else newest)
    if last < oldest:
        return None
    rows = store.read(f"SELECT {', '.join(COLUMNS)} FROM audit WHERE seq <= ? ORDER BY seq",
                      [last])
    archive_dir.mkdir(parents=True, exist_ok=True)
    name = f"audit-{oldest:012d}-{last:012d}.jsonl.gz"
    digest = _write_archive(archive_dir / name, rows)
    point = Checkpoint(oldest, last, rows[-1][7], name, digest, now_ms)
    with store.transaction() as db:
        db.execute(
            f"INSERT INTO {CHECKPOINTS} (last, first, hash, archive, archive_sha256, made_at) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            [point.last, point.first, point.hash, point.archive, point.archive_sha256,
             point.made_at],
        )
        db.execute("DELETE FROM audit WHERE seq <= ?", [last])
    return point


def _write_archive(path: Path, rows: list[tuple[object, ...]]) -> str:
    """Write the rows durably (temp file, fsync, rename, fsync of the directory); their hash."""
    temporary = path.with_suffix(".part")
    with temporary.open("wb") as raw:
        with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as packed:
            for row in rows:
                packed.write(json.dumps(dict(zip(COLUMNS, row, strict=True)),
                                        ensure_ascii=False).encode() + b"\n")
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def prune_requests(store: Store, before_ms: int) -> int:
    """Forget answered requests whose reply was delivered before `before_ms`."""
    if not store.read("SELECT name FROM sqlite_master WHERE name = 'requests'"):
        return 0
    with store.transaction() as db:
        cursor = db.execute(
            "DELETE FROM requests WHERE reply IS NOT NULL AND reply_delivered = 1 "
            "AND replied_at < ?", [before_ms])
        return cursor.rowcount


def compact(store: Store, archive_dir: Path, keep_ms: int, now_ms: int, *,
            vacuum: bool = False) -> Compaction:
    """Archive audit entries and prune requests older than `keep_ms`; optionally give the freed
    pages back to the file system (VACUUM rewrites the database: run it when the wing is quiet)."""
    before = now_ms - keep_ms
    point = archive_audit(store, archive_dir, before, now_ms)
    pruned = prune_requests(store, before)
    if vacuum:
        store.read("VACUUM")
    return Compaction(point, pruned)


def verify_archives(store: Store, archive_dir: Path) -> ChainCheck:
    """The whole history: each archive intact (its SHA-256) and chained from genesis to its
    checkpoint, then the live chain from the last checkpoint."""
    prev, expected, count = GENESIS, 1, 0
    for point in checkpoints(store):
        path = archive_dir / point.archive
        if not path.is_file():
            return ChainCheck(False, count, point.first, f"archive {point.archive} is missing")
        if hashlib.sha256(path.read_bytes()).hexdigest() != point.archive_sha256:
            return ChainCheck(False, count, point.first, f"archive {point.archive} was altered")
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            for line in lines:
                entry = json.loads(line)
                seq = entry["seq"]
                if seq != expected:
                    return ChainCheck(False, count, seq, f"entry {expected} is missing")
                if entry["prev"] != prev or entry_hash(
                    seq, entry["at"], entry["actor"], entry["action"], entry["target"],
                    entry["detail"], prev,
                ) != entry["hash"]:
                    return ChainCheck(False, count, seq, "archived entry does not match its hash")
                prev, expected, count = entry["hash"], seq + 1, count + 1
        if (expected - 1, prev) != (point.last, point.hash):
            return ChainCheck(False, count, point.last, "archive does not end at its checkpoint")
    live = store.verify_audit()
    return ChainCheck(live.ok, count + live.entries, live.broken_at, live.problem)


class AuditRetention:
    """The automatic path (`audit_keep_days` in the gateway's config): `compact` once a day on
    the store's own thread (after every other write queued, never beside one), without VACUUM —
    SQLite reuses the freed pages, so the file stops growing at about `keep` days of record.
    A failure (disk full, an archive that cannot be written) is logged and tried again the next
    day; nothing is deleted unless its archive is on storage first."""

    def __init__(self, store: Store, io: StoreThread, archive_dir: Path, keep_days: int,
                 clock: Callable[[], int], period_s: float = DAY_MS / 1000) -> None:
        self._store, self._io, self._archive = store, io, archive_dir
        self.keep_ms = keep_days * DAY_MS
        self._clock, self._period_s = clock, period_s

    async def once(self) -> Compaction | None:
        try:
            done = await self._io(compact, self._store, self._archive, self.keep_ms,
                                  self._clock())
        except (OSError, sqlite3.Error) as exc:
            log.error("audit retention failed (tried again in a day): %s", exc)
            return None
        if done.checkpoint is not None:
            log.info("archived audit entries %d-%d to %s", done.checkpoint.first,
                     done.checkpoint.last, done.checkpoint.archive)
        return done

    async def run(self) -> None:
        while True:
            await self.once()
            await asyncio.sleep(self._period_s)
