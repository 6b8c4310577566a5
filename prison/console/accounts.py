"""The prison console's accounts in the prison store (SQLite or PostgreSQL, migration 4): the
shared `AccountBook` over `PrisonAccounts`, and its events in `console_events`, each written in
the same transaction as the change it records."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from argon2 import PasswordHasher

from common.staff_web.accounts import PRODUCTION_HASHER, AccountBook, StaffEvent
from prison.store import PrisonStore


class PrisonAccounts:
    """`AccountStore` over the prison store."""

    def __init__(self, store: PrisonStore) -> None:
        self._store = store

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return self._store.execute(sql, params).fetchall()

    def change(self, sql: str, params: Sequence[Any], *events: StaffEvent) -> None:
        with self._store.backend.transaction():
            self._store.execute(sql, params)
            self.record(*events)

    def record(self, *events: StaffEvent) -> None:
        with self._store.backend.transaction():
            for e in events:
                self._store.execute(
                    "INSERT INTO console_events (at, actor, action, target, detail) "
                    "VALUES (?, ?, ?, ?, ?)",
                    [e.at, e.actor, e.action, e.target, json.dumps(dict(e.detail),
                                                                    sort_keys=True)])


def prison_account_book(store: PrisonStore, hasher: PasswordHasher = PRODUCTION_HASHER
                        ) -> AccountBook:
    return AccountBook(PrisonAccounts(store), hasher)


def events(store: PrisonStore, limit: int = 200) -> list[StaffEvent]:
    """The newest `limit` console events, newest first."""
    rows = store.execute("SELECT at, actor, action, target, detail FROM console_events "
                         "ORDER BY at DESC LIMIT ?", [limit]).fetchall()
    return [StaffEvent(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]
