"""Prisoner records as the gateway keeps them (docs/prisoners.md; DESIGN §10): table `prisoners`
in the gateway's SQLite, and `person_events` (the ids of the tablets' person events already
applied, so each is applied once).

Every change is read, checked and written in one call on the store's one thread, in one
`Store.transaction` with the audit entries that record it: both or neither. A record whose
person has left (released or transferred) is kept, without a verifier, until `purge` deletes it
after the retention period.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from gateway.store import Audit, Store
from wire.prisoners import MAX_ATTEMPTS, MAX_LESSONS, LessonState, Occupant, PersonEvent, Settings

STATUSES = ("in_cell", "transferred", "released")
"""A move is immediate (the person is `in_cell` in the new cell at once), so no record stands
between two cells."""
PRESENT = ("in_cell",)
LEFT = ("transferred", "released")

_COLUMNS = ("number, name, language, profile, cell, release_date, status, verifier, credential,"
            " pin_epoch, failed, locked_out, settings, lessons, prev_cell, updated, left_at,"
            " pin_at")
_INSERT = f"INSERT OR REPLACE INTO prisoners ({_COLUMNS}) VALUES ({', '.join('?' * 18)})"


class BookRefusal(Exception):
    """A change that cannot be made as asked; one line for staff (or the audit, for events)."""


@dataclass(frozen=True, slots=True)
class Prisoner:
    number: str
    name: str
    language: str = "en"
    profile: str = "standard"
    cell: str = ""
    release_date: str = ""
    status: str = "in_cell"
    verifier: str | None = None
    credential: str = "one_time"
    pin_epoch: int = 0
    failed: int = 0
    locked_out: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    lessons: dict[str, dict[str, Any]] = field(default_factory=dict)
    prev_cell: str = ""
    """The cell before the last move: its tablet's queued settings and lessons are still taken."""
    updated: int = 0
    left_at: int | None = None
    pin_at: int = 0
    """When the person chose the PIN the verifier checks (the tablet's time in its `pin_set`
    event): a `pin_set` made earlier, delivered late, does not replace it."""

    @property
    def display(self) -> str:
        """What the sign-in button shows: first name and the last name's initial."""
        words = self.name.split()
        shown = words[0] if len(words) < 2 else f"{words[0]} {words[-1][0]}."
        return shown[:40]

    def occupant(self) -> Occupant:
        settings = Settings.model_validate({"language": self.language, **self.settings})
        return Occupant(
            number=self.number, display=self.display, profile=self.profile,
            verifier=self.verifier, credential=self.credential,  # type: ignore[arg-type]
            pin_epoch=self.pin_epoch, locked_out=self.locked_out, settings=settings,
            lessons={k: LessonState.model_validate(v) for k, v in self.lessons.items()})

    def as_json(self) -> dict[str, Any]:
        """What staff see: never the verifier, only whether there is one."""
        return {"number": self.number, "name": self.name, "language": self.language,
                "profile": self.profile, "cell": self.cell, "release_date": self.release_date,
                "status": self.status, "credential": self.credential if self.verifier else None,
                "pin_epoch": self.pin_epoch, "failed": self.failed,
                "locked_out": self.locked_out, "settings": self.settings,
                "lessons": self.lessons, "updated": self.updated, "left_at": self.left_at}

    def row(self) -> list[Any]:
        return [self.number, self.name, self.language, self.profile, self.cell,
                self.release_date, self.status, self.verifier, self.credential, self.pin_epoch,
                self.failed, int(self.locked_out), json.dumps(self.settings, sort_keys=True),
                json.dumps(self.lessons, sort_keys=True), self.prev_cell, self.updated,
                self.left_at, self.pin_at]


def _prisoner(row: tuple[Any, ...]) -> Prisoner:
    return Prisoner(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7], row[8],
                    row[9], row[10], bool(row[11]), json.loads(row[12]), json.loads(row[13]),
                    row[14], row[15], row[16], row[17])


@dataclass(frozen=True, slots=True)
class Applied:
    """What a person event did: `changed` is the record after it (None: no record changed)."""

    duplicate: bool
    changed: Prisoner | None = None


class PrisonerBook:
    def __init__(self, store: Store) -> None:
        self._store = store
        with store.transaction() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS prisoners (number TEXT PRIMARY KEY, name TEXT NOT"
                " NULL, language TEXT NOT NULL, profile TEXT NOT NULL, cell TEXT NOT NULL,"
                " release_date TEXT NOT NULL, status TEXT NOT NULL, verifier TEXT,"
                " credential TEXT NOT NULL, pin_epoch INTEGER NOT NULL, failed INTEGER NOT NULL,"
                " locked_out INTEGER NOT NULL, settings TEXT NOT NULL, lessons TEXT NOT NULL,"
                " prev_cell TEXT NOT NULL, updated INTEGER NOT NULL, left_at INTEGER,"
                " pin_at INTEGER NOT NULL DEFAULT 0)")
            columns = {row[1] for row in db.conn.execute("PRAGMA table_info(prisoners)")}
            if "pin_at" not in columns:  # a book from before PIN changes
                db.execute("ALTER TABLE prisoners ADD COLUMN pin_at INTEGER NOT NULL DEFAULT 0")
            db.execute("CREATE INDEX IF NOT EXISTS prisoners_cell ON prisoners (cell, status)")
            db.execute(
                "CREATE TABLE IF NOT EXISTS person_events (id TEXT PRIMARY KEY, device TEXT"
                " NOT NULL, person TEXT NOT NULL, kind TEXT NOT NULL, received INTEGER NOT NULL)")

    # -- reading ---------------------------------------------------------------------------

    def all(self) -> list[Prisoner]:
        return [_prisoner(r) for r in self._store.read(
            f"SELECT {_COLUMNS} FROM prisoners ORDER BY number")]

    def get(self, number: str) -> Prisoner | None:
        rows = self._store.read(f"SELECT {_COLUMNS} FROM prisoners WHERE number = ?", [number])
        return _prisoner(rows[0]) if rows else None

    # -- writing ---------------------------------------------------------------------------

    def save(self, changed: Iterable[Prisoner], audits: Iterable[Audit]) -> None:
        """Write whole records and the audit entries that say why, in one transaction."""
        rows = [p.row() for p in changed]
        with self._store.transaction(*audits) as db:
            db.conn.executemany(_INSERT, rows)

    def change(self, number: str, by: str, action: str, now: int, *, want_present: bool = True,
               **fields: Any) -> Prisoner:
        """Change one record's `fields`, audited as `action` with what changed (never a
        verifier); BookRefusal if there is no such person, or they have left (`want_present`)."""
        current = self.get(number)
        if current is None:
            raise BookRefusal(f"no prisoner {number} on this wing")
        if want_present and current.status not in PRESENT:
            raise BookRefusal(f"{number} is {current.status}: re-admit them with `add` first")
        changed = replace(current, updated=now, **fields)
        shown = {k: v for k, v in fields.items() if k not in ("verifier", "settings", "lessons")}
        self.save([changed], [Audit(now, by, action, f"prisoner:{number}", shown)])
        return changed

    def add(self, person: Prisoner, by: str, now: int) -> Prisoner:
        """A new record, or a person who left coming back (re-admitted: kept settings and
        lessons, no credential until staff issue a code)."""
        current = self.get(person.number)
        if current is not None and current.status in PRESENT:
            raise BookRefusal(f"{person.number} is already on the wing (in {current.cell}): "
                              "use move")
        added = replace(person, status="in_cell", updated=now, left_at=None)
        action = "prisoner_add"
        if current is not None:
            action = "prisoner_readmit"
            added = replace(added, settings=current.settings, lessons=current.lessons,
                            pin_epoch=current.pin_epoch + 1)
        self.save([added], [Audit(now, by, action, f"prisoner:{person.number}", {
            "cell": added.cell, "profile": added.profile, "language": added.language})])
        return added

    def purge(self, before: int, now: int) -> list[str]:
        """Delete the records of people who left before `before` (the retention period)."""
        rows = self._store.read("SELECT number, status FROM prisoners WHERE left_at IS NOT NULL"
                                " AND left_at < ?", [before])
        if not rows:
            return []
        audits = [Audit(now, "gateway", "prisoner_deleted", f"prisoner:{n}",
                        {"status": s, "reason": "retention period over"}) for n, s in rows]
        with self._store.transaction(*audits) as db:
            db.conn.executemany("DELETE FROM prisoners WHERE number = ?", [[n] for n, _ in rows])
        return [n for n, _ in rows]

    # -- what tablets tell --------------------------------------------------------------------

    def apply_event(self, device: str, cell: str, event: PersonEvent, now: int) -> Applied:
        """Apply a tablet's person event once (by its id); BookRefusal if the person is not an
        occupant of the tablet's cell or the event is of an older PIN epoch. What the person
        did on the tablet of the cell they last moved out of (settings, a lesson step, a PIN
        they chose) is still taken: it was queued there before the move."""
        if self._store.read("SELECT 1 FROM person_events WHERE id = ?", [event.id]):
            return Applied(duplicate=True)
        person = self.get(event.person)
        carried = event.kind in ("settings", "lesson", "pin_set")
        if person is None or person.status not in PRESENT or not (
                person.cell == cell or (carried and person.prev_cell == cell)):
            raise BookRefusal(f"not_occupant: {event.person} does not live in {cell}")
        if event.kind.startswith("pin_") and event.pin_epoch != person.pin_epoch:
            raise BookRefusal(f"stale_epoch: {event.kind} at PIN epoch {event.pin_epoch},"
                              f" the gateway's is {person.pin_epoch}")
        changed = _after(person, event, now)
        detail: dict[str, Any] = {"device": device, "event": event.id, "at": event.at}
        if event.kind == "pin_failed":
            detail["attempts"] = event.attempts
        if event.kind == "pin_set" and changed is None:
            detail["superseded"] = "a PIN chosen later is kept"
        if event.kind == "signed_out":
            detail["ended"] = event.ended
        audit = Audit(now, f"tablet:{device}", f"person_{event.kind}", f"prisoner:{person.number}",
                      detail)
        with self._store.transaction(audit) as db:
            db.execute("INSERT INTO person_events (id, device, person, kind, received)"
                       " VALUES (?, ?, ?, ?, ?)", [event.id, device, person.number, event.kind,
                                                   now])
            if changed is not None:
                db.execute(_INSERT, changed.row())
        return Applied(duplicate=False, changed=changed)


def _after(person: Prisoner, event: PersonEvent, now: int) -> Prisoner | None:
    """The record after `event` (None: the event changes no record, a sign-in or -out)."""
    if event.kind == "pin_set":
        if event.at < person.pin_at:  # chosen before the PIN the record has: delivered late
            return None
        return replace(person, verifier=event.verifier, credential="pin", failed=0,
                       locked_out=False, updated=now, pin_at=event.at)
    if event.kind == "pin_failed":
        failed = max(person.failed, event.attempts)
        return replace(person, failed=failed, locked_out=person.locked_out
                       or failed >= MAX_ATTEMPTS, updated=now)
    if event.kind == "pin_locked":
        return replace(person, failed=max(person.failed, MAX_ATTEMPTS), locked_out=True,
                       updated=now)
    if event.kind == "settings" and event.settings is not None:
        settings = event.settings.model_dump(mode="json")
        # The roll's preferred language stays as the roll says; the person's own choice is in
        # `settings` and wins on the tablet (`Prisoner.occupant`).
        return replace(person, settings=settings, updated=now)
    if event.kind == "lesson" and event.lesson and event.lesson_state is not None:
        if event.lesson not in person.lessons and len(person.lessons) >= MAX_LESSONS:
            raise BookRefusal(f"too_many_lessons: {person.number} has {MAX_LESSONS} already")
        lessons = {**person.lessons, event.lesson: event.lesson_state.model_dump(mode="json")}
        return replace(person, lessons=lessons, updated=now)
    return None
