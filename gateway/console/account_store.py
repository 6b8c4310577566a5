"""The wing console's accounts live in the gateway's SQLite (`staff_accounts` in gateway.db), each
change in one transaction with its entry in the wing's audit chain: `AccountStore` over
`gateway.store.Store`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from argon2 import PasswordHasher

from common.staff_web.accounts import PRODUCTION_HASHER, TABLE, AccountBook, StaffEvent
from gateway.store import Audit, Store


def _audit(event: StaffEvent) -> Audit:
    return Audit(event.at, event.actor, event.action, event.target, dict(event.detail))


class WingAccounts:
    """`AccountStore` over the gateway's store (its accounts table made if missing)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        with store.transaction() as db:
            db.execute(TABLE.format(if_not_exists="IF NOT EXISTS ", int="INTEGER"))

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        return self._store.read(sql, params)

    def change(self, sql: str, params: Sequence[Any], *events: StaffEvent) -> None:
        with self._store.transaction(*(_audit(e) for e in events)) as db:
            db.execute(sql, list(params))

    def record(self, *events: StaffEvent) -> None:
        for event in events:
            self._store.append(_audit(event))


def wing_account_book(store: Store, hasher: PasswordHasher = PRODUCTION_HASHER) -> AccountBook:
    return AccountBook(WingAccounts(store), hasher)
