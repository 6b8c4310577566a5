"""The prison console's accounts in the prison store (SQLite or PostgreSQL, migration 4): the
shared `AccountBook` over `PrisonAccounts`, its events recorded with the other staff events
(`prison.staff_events`), each in the same transaction as the change it records."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from argon2 import PasswordHasher

from common.staff_web.accounts import PRODUCTION_HASHER, AccountBook, StaffEvent
from prison import staff_events
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
        staff_events.record(self._store, *events)


def prison_account_book(store: PrisonStore, hasher: PasswordHasher = PRODUCTION_HASHER
                        ) -> AccountBook:
    return AccountBook(PrisonAccounts(store), hasher)
