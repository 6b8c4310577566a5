"""The estate's tablet inventory (SQLite via sqlite-utils): who each tablet is, where it lives,
which certificate it holds and whether it may still talk to its gateway."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path

import sqlite_utils

EXPIRY_WARNING = dt.timedelta(days=30)
TABLE = "tablets"
EXISTING_BATCH = 500
"""Tablet ids asked in one query (SQLite allows 999 parameters before 3.32)."""


class Status(StrEnum):
    ACTIVE = "active"
    REVOKED = "revoked"
    IN_REPAIR = "in_repair"
    RETIRED = "retired"


@dataclass(frozen=True, slots=True)
class Tablet:
    tablet_id: str
    wing: str
    cell: str
    serial: str
    """The hardware serial number (empty when unknown)."""
    status: Status
    cert_serial: str
    """The certificate's serial number, hex."""
    cert_expires: str
    """ISO 8601, UTC."""
    enrolled_by: str
    enrolled_at: str
    status_reason: str = ""
    status_changed_at: str = ""

    def expiring(self, now: dt.datetime) -> bool:
        """Active and its certificate runs out within 30 days (or already has)."""
        expires = dt.datetime.fromisoformat(self.cert_expires)
        return self.status is Status.ACTIVE and expires - now <= EXPIRY_WARNING

    def as_json(self, now: dt.datetime) -> dict[str, object]:
        return {**asdict(self), "status": self.status.value, "expiring": self.expiring(now)}


class InventoryError(Exception):
    """A change the inventory refuses; the message is one line."""


class Inventory:
    """One SQLite file in the estate. Reading never writes; every change is one transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def create(cls, path: Path) -> Inventory:
        db = sqlite_utils.Database(path)
        db[TABLE].create(  # type: ignore[union-attr]
            {
                "tablet_id": str,
                "wing": str,
                "cell": str,
                "serial": str,
                "status": str,
                "cert_serial": str,
                "cert_expires": str,
                "enrolled_by": str,
                "enrolled_at": str,
                "status_reason": str,
                "status_changed_at": str,
            },
            pk="tablet_id",
            not_null={"wing", "cell", "status", "cert_serial", "cert_expires"},
            if_not_exists=True,
        )
        db[TABLE].create_index(["wing"], if_not_exists=True)  # type: ignore[union-attr]
        db.close()
        return cls(path)

    def _db(self) -> sqlite_utils.Database:
        if not self.path.is_file():
            raise InventoryError(f"no inventory at {self.path}: run `provision init` first")
        return sqlite_utils.Database(self.path)

    def all(self, wing: str | None = None) -> list[Tablet]:
        db = self._db()
        try:
            where = "wing = ?" if wing else None
            rows = db[TABLE].rows_where(where, [wing] if wing else [], order_by="wing, tablet_id")
            return [_tablet(row) for row in rows]
        finally:
            db.close()

    def get(self, tablet_id: str) -> Tablet | None:
        db = self._db()
        try:
            rows = list(db[TABLE].rows_where("tablet_id = ?", [tablet_id]))
            return _tablet(rows[0]) if rows else None
        finally:
            db.close()

    def existing(self, tablet_ids: Iterable[str]) -> list[Tablet]:
        """Those of `tablet_ids` in the inventory, in `all`'s order. Reads only those rows: a
        wing's 2,000 tablets asked one at a time must not read the whole table each time."""
        wanted = sorted(set(tablet_ids))
        db = self._db()
        try:
            found: list[Tablet] = []
            for start in range(0, len(wanted), EXISTING_BATCH):
                batch = wanted[start:start + EXISTING_BATCH]
                where = f"tablet_id IN ({', '.join('?' * len(batch))})"
                found += [_tablet(row) for row in db[TABLE].rows_where(where, batch)]
            return sorted(found, key=lambda t: (t.wing, t.tablet_id))
        finally:
            db.close()

    def add(self, tablets: Iterable[Tablet]) -> None:
        """Insert new tablets, all or none; an id already present is refused."""
        rows = [{**asdict(t), "status": t.status.value} for t in tablets]
        db = self._db()
        try:
            with db.atomic():
                taken = [
                    r["tablet_id"]
                    for r in rows
                    if db[TABLE].count_where("tablet_id = ?", [r["tablet_id"]])
                ]
                if taken:
                    raise InventoryError(f"tablet {taken[0]!r} is already enrolled")
                db[TABLE].insert_all(rows)  # type: ignore[union-attr]
        finally:
            db.close()

    def set_status(self, tablet_id: str, status: Status, reason: str, when: dt.datetime) -> None:
        db = self._db()
        try:
            with db.atomic():
                db[TABLE].update(  # type: ignore[union-attr]
                    tablet_id,
                    {
                        "status": status.value,
                        "status_reason": reason,
                        "status_changed_at": when.isoformat(timespec="seconds"),
                    },
                )
        finally:
            db.close()


def _tablet(row: dict[str, object]) -> Tablet:
    values = {key: ("" if value is None else value) for key, value in row.items()}
    values["status"] = Status(str(values["status"]))
    return Tablet(**values)  # type: ignore[arg-type]
