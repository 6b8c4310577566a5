"""The prisoner records in the gateway's SQLite (gateway/prisoner_book.py): each change with its
audit entry, the record of a person who left kept until the retention period is over."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.prisoner_book import BookRefusal, Prisoner, PrisonerBook
from gateway.prisoner_roll import left
from gateway.store import Store

DAY = 86_400_000


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "gateway.db")


@pytest.fixture
def book(store: Store) -> PrisonerBook:
    return PrisonerBook(store)


def actions(store: Store) -> list[tuple[str, str]]:
    return [(e.action, e.target) for e in store.audit_entries()]


def test_a_record_and_its_audit_entry_are_written_together(book: PrisonerBook, store: Store
                                                           ) -> None:
    book.add(Prisoner("A1234BC", "John Smith", cell="C1"), "staff:os:ames", 1)
    book.change("A1234BC", "staff:os:ames", "prisoner_move", 2, cell="C2", prev_cell="C1")
    assert book.get("A1234BC") == Prisoner("A1234BC", "John Smith", cell="C2", prev_cell="C1",
                                           updated=2)
    assert actions(store) == [("prisoner_add", "prisoner:A1234BC"),
                             ("prisoner_move", "prisoner:A1234BC")]


def test_a_person_who_left_cannot_be_moved_until_readmitted(book: PrisonerBook) -> None:
    person = book.add(Prisoner("A1234BC", "John Smith", cell="C1"), "staff:x", 1)
    book.save([left(person, "released", 5)], [])
    with pytest.raises(BookRefusal, match="is released"):
        book.change("A1234BC", "staff:x", "prisoner_move", 6, cell="C2")
    again = book.add(Prisoner("A1234BC", "John Smith", cell="C3"), "staff:x", 7)
    assert (again.status, again.cell, again.left_at) == ("in_cell", "C3", None)


def test_records_of_people_who_left_are_deleted_after_the_retention_period(
        book: PrisonerBook, store: Store) -> None:
    for number, cell in (("A1234BC", "C1"), ("B2345CD", "C2"), ("C3456DE", "C3")):
        book.add(Prisoner(number, "Some One", cell=cell), "staff:x", 0)
    book.save([left(book.get("A1234BC"), "released", 10 * DAY),  # type: ignore[arg-type]
               left(book.get("B2345CD"), "transferred", 400 * DAY)], [])  # type: ignore[arg-type]
    assert book.purge(before=365 * DAY, now=400 * DAY) == ["A1234BC"]
    assert [p.number for p in book.all()] == ["B2345CD", "C3456DE"]
    assert actions(store)[-1] == ("prisoner_deleted", "prisoner:A1234BC")
    assert book.purge(before=365 * DAY, now=400 * DAY) == []


def test_a_book_from_before_pin_changes_keeps_its_records_and_learns_when_a_pin_was_chosen(
        tmp_path: Path) -> None:
    old = Store(tmp_path / "old.db")
    with old.transaction() as db:  # the table as it was before `pin_at`
        db.execute(
            "CREATE TABLE prisoners (number TEXT PRIMARY KEY, name TEXT NOT NULL, language TEXT"
            " NOT NULL, profile TEXT NOT NULL, cell TEXT NOT NULL, release_date TEXT NOT NULL,"
            " status TEXT NOT NULL, verifier TEXT, credential TEXT NOT NULL, pin_epoch INTEGER"
            " NOT NULL, failed INTEGER NOT NULL, locked_out INTEGER NOT NULL, settings TEXT NOT"
            " NULL, lessons TEXT NOT NULL, prev_cell TEXT NOT NULL, updated INTEGER NOT NULL,"
            " left_at INTEGER)")
        db.execute("INSERT INTO prisoners VALUES ('A1234BC', 'John Smith', 'en', 'standard',"
                   " 'C1', '', 'in_cell', NULL, 'one_time', 1, 0, 0, '{}', '{}', '', 5, NULL)")
    book = PrisonerBook(old)
    assert book.get("A1234BC") == Prisoner("A1234BC", "John Smith", cell="C1", pin_epoch=1,
                                           updated=5, pin_at=0)
    book.change("A1234BC", "staff:test", "prisoner_move", 6, cell="C2")
    assert book.get("A1234BC").cell == "C2"  # type: ignore[union-attr]
