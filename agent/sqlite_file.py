"""One small SQLite file of the agent's own beside state.db (the outbox, people.db): WAL with
synchronous=FULL, so a power cut never loses a row once written, one lock around the connection
(callers run in worker threads), and every SQLite or OS error raised as the agent's `StoreError`,
so the caller fails closed."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from agent.store import StoreError


class SqliteFile:
    """Subclasses create their tables in `_create` (inside the opening transaction)."""

    def __init__(self, path: Path, *, private: bool = False) -> None:
        """Open (or make) `path`; `private`: created and kept mode 0600 (root only)."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if private:
                os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
                os.chmod(path, 0o600)
            self._conn = sqlite3.connect(path, check_same_thread=False)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            with self._conn:
                self._create(self._conn)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{path}: {exc}") from exc
        self.path = path
        self._lock = threading.Lock()

    def _create(self, conn: sqlite3.Connection) -> None:
        """Create the tables (and migrate older files)."""

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
