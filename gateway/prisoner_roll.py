"""The prison's nightly roll (CSV) and what importing it changes, pure: no I/O, no clock.

The file has a header naming the columns `number,name,language,profile,cell,release_date` (any
order) and one row per person in the prison's roll for this wing. Every row is checked; a bad
row is reported with its line number (the header is line 1) and reason. The roll is the whole
truth: a person on the wing who is not on it has left (released).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace

from gateway.prisoner_book import PRESENT, Prisoner
from wire.prisoners import LANGUAGES, MAX_OCCUPANTS, is_prison_number

COLUMNS = ("number", "name", "language", "profile", "cell", "release_date")
NAME_MAX = 120
CELL_MAX = 64
ROLL_MAX_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class BadRow:
    line: int
    reason: str

    def as_json(self) -> dict[str, object]:
        return {"line": self.line, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class RollRow:
    line: int
    person: Prisoner


@dataclass
class Roll:
    rows: list[RollRow] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    named: set[str] = field(default_factory=set)
    """Every well-formed prison number in the file, good row or bad: a person whose row is bad
    is not taken for gone."""


def _text_problem(value: str, what: str, longest: int) -> str | None:
    if not value.strip():
        return f"{what} is empty"
    if len(value) > longest:
        return f"{what} is longer than {longest} characters"
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        return f"{what} has a control character"
    if not is_utf8(value):
        return f"{what} is not UTF-8 text"
    return None


def is_utf8(value: str) -> bool:
    """Whether `value` can be stored and shown (a lone surrogate cannot)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _row_problem(row: dict[str, str], profiles: Iterable[str]) -> str | None:
    number = row["number"].strip()
    if not is_prison_number(number):
        return f"prison number {number!r} is not written like A1234BC"
    for column, what, longest in (("name", "name", NAME_MAX), ("cell", "cell", CELL_MAX)):
        problem = _text_problem(row[column], what, longest)
        if problem:
            return problem
    if row["language"].strip() not in LANGUAGES:
        return f"language {row['language']!r} is not one of {', '.join(LANGUAGES)}"
    if row["profile"].strip() not in profiles:
        return f"profile {row['profile']!r} is not one of {', '.join(sorted(profiles))}"
    release = row["release_date"].strip()
    if release and not is_day(release):
        return f"release date {release!r} is not a date YYYY-MM-DD"
    return None


def is_day(text: str) -> bool:
    """Whether `text` is a real day written YYYY-MM-DD."""
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return False
    try:
        dt.date.fromisoformat(text)
    except ValueError:
        return False
    return True


def parse_roll(text: str, profiles: Iterable[str], cells: Collection[str] | None = None
               ) -> Roll:
    """Every row of the file, checked: the good ones, and each bad one with its line.
    `cells`: the wing's cells that have a tablet (None: not checked) — a person placed in a
    cell no tablet serves could never sign in, so the row is bad, as `staff prisoner add` says."""
    roll = Roll()
    known = sorted(profiles)
    if len(text.encode("utf-8", "surrogatepass")) > ROLL_MAX_BYTES:
        roll.bad.append(BadRow(1, f"the file is over {ROLL_MAX_BYTES} bytes"))
        return roll
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader, [])]
    except csv.Error as exc:
        roll.bad.append(BadRow(1, f"unreadable header: {exc}"))
        return roll
    if sorted(header) != sorted(COLUMNS):
        roll.bad.append(BadRow(1, "the header must name the columns " + ",".join(COLUMNS)))
        return roll
    first_line: dict[str, int] = {}
    by_cell: dict[str, int] = {}
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            roll.bad.append(BadRow(reader.line_num, f"unreadable: {exc}"))
            continue
        line = reader.line_num
        if not fields or all(not f.strip() for f in fields):
            continue  # a blank line
        if len(fields) != len(COLUMNS):
            roll.bad.append(BadRow(line, f"{len(fields)} fields, expected {len(COLUMNS)}"))
            continue
        row = dict(zip(header, fields, strict=True))
        number = row["number"].strip()
        if is_prison_number(number):
            roll.named.add(number)
        problem = _row_problem(row, known)
        if problem is None and number in first_line:
            problem = f"{number} is already on line {first_line[number]}"
        cell = row["cell"].strip()
        if problem is None and cells is not None and cell not in cells:
            problem = f"no cell {cell} on this wing: no tablet is registered there"
        if problem is None and by_cell.get(cell, 0) >= MAX_OCCUPANTS:
            problem = f"cell {cell} would have more than {MAX_OCCUPANTS} occupants"
        if problem is not None:
            roll.bad.append(BadRow(line, problem))
            continue
        first_line[number] = line
        by_cell[cell] = by_cell.get(cell, 0) + 1
        roll.rows.append(RollRow(line, Prisoner(
            number=number, name=" ".join(row["name"].split()),
            language=row["language"].strip(), profile=row["profile"].strip(), cell=cell,
            release_date=row["release_date"].strip())))
    if not roll.rows and not roll.bad:
        roll.bad.append(BadRow(1, "the roll names nobody: refusing to release the whole wing"))
    return roll


@dataclass
class RollPlan:
    """What importing a roll changes: the records to write and the summary staff see."""

    records: list[Prisoner] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    readmitted: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    unchanged: int = 0

    def summary(self) -> dict[str, object]:
        return {"added": self.added, "readmitted": self.readmitted, "moved": self.moved,
                "updated": self.updated, "released": self.released,
                "unchanged": self.unchanged}

    @property
    def changed(self) -> bool:
        return bool(self.records)


def plan_roll(roll: Roll, current: Mapping[str, Prisoner], now: int) -> RollPlan:
    """The changes that make the records match the roll (none, for a roll already imported)."""
    plan = RollPlan()
    for row in roll.rows:
        new, old = row.person, current.get(row.person.number)
        if old is None:
            plan.added.append(new.number)
            plan.records.append(replace(new, updated=now))
        elif old.status not in PRESENT:
            plan.readmitted.append(new.number)
            plan.records.append(replace(new, settings=old.settings, lessons=old.lessons,
                                        pin_epoch=old.pin_epoch + 1, updated=now))
        elif old.cell != new.cell or old.status != "in_cell":
            plan.moved.append(new.number)
            plan.records.append(replace(old, name=new.name, language=new.language,
                                        profile=new.profile, release_date=new.release_date,
                                        cell=new.cell, prev_cell=old.cell, status="in_cell",
                                        updated=now))
        elif (old.name, old.language, old.profile, old.release_date) != (
                new.name, new.language, new.profile, new.release_date):
            plan.updated.append(new.number)
            plan.records.append(replace(old, name=new.name, language=new.language,
                                        profile=new.profile, release_date=new.release_date,
                                        updated=now))
        else:
            plan.unchanged += 1
    for number, old in sorted(current.items()):
        if old.status in PRESENT and number not in roll.named:
            plan.released.append(number)
            plan.records.append(left(old, "released", now))
    return plan


def left(person: Prisoner, status: str, now: int) -> Prisoner:
    """The record of a person who has left: no cell's tablet learns of them again, and no
    credential is kept (a re-admitted person is issued a new one-time code)."""
    return replace(person, status=status, prev_cell="", verifier=None, credential="one_time",
                   failed=0, locked_out=False, pin_epoch=person.pin_epoch + 1, updated=now,
                   left_at=now)
