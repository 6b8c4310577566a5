"""The nightly roll import: every bad row reported with its line and reason, nothing applied if
any row is bad (unless --skip-bad), --dry-run changes nothing, a second import of the same roll
changes nothing (docs/prisoners.md)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway.prisoner_book import Prisoner
from gateway.prisoner_roll import parse_roll, plan_roll
from wire.policy import REQUIRED_PROFILES

pytestmark = pytest.mark.timeout(120)

HEADER = "number,name,language,profile,cell,release_date\n"
GOOD = ("A1234BC,John Smith,en,standard,C1,2027-03-01\n"
        "B2345CD,Adam Nowak,pl,enhanced,C2,\n")


@pytest.mark.parametrize(("row", "reason"), [
    ("A1234BC,John Smith,en,standard,C1\n", "5 fields, expected 6"),
    ("A1234BC,John Smith,en,standard,C1,,extra\n", "7 fields, expected 6"),
    ("12345,John Smith,en,standard,C1,\n", "is not written like A1234BC"),
    ("a1234bc,John Smith,en,standard,C1,\n", "is not written like A1234BC"),
    ("A1234BC, ,en,standard,C1,\n", "name is empty"),
    ("A1234BC," + "x" * 121 + ",en,standard,C1,\n", "name is longer than 120"),
    ("A1234BC,John\x1bSmith,en,standard,C1,\n", "name has a control character"),
    ("A1234BC,John Smith,de,standard,C1,\n", "language 'de' is not one of en, pl"),
    ("A1234BC,John Smith,en,vip,C1,\n", "profile 'vip' is not one of"),
    ("A1234BC,John Smith,en,standard,,\n", "cell is empty"),
    ("A1234BC,John Smith,en,standard,C1,01/03/2027\n", "is not a date YYYY-MM-DD"),
    ("A1234BC,John Smith,en,standard,C1,2027-02-30\n", "is not a date YYYY-MM-DD"),
])
def test_each_kind_of_bad_row_is_reported_with_its_line_and_reason(row: str, reason: str
                                                                    ) -> None:
    roll = parse_roll(HEADER + "B2345CD,Adam Nowak,pl,enhanced,C2,\n" + row, REQUIRED_PROFILES)
    assert [b.line for b in roll.bad] == [3]
    assert reason in roll.bad[0].reason
    assert [r.person.number for r in roll.rows] == ["B2345CD"]


def test_a_number_twice_is_reported_on_its_second_line_naming_the_first() -> None:
    roll = parse_roll(HEADER + GOOD + "A1234BC,John Smith,en,standard,C3,\n", REQUIRED_PROFILES)
    assert [(b.line, b.reason) for b in roll.bad] == [(4, "A1234BC is already on line 2")]


def test_a_fifth_person_in_one_cell_is_reported() -> None:
    rows = "".join(f"A100{n}AA,P {n},en,standard,C1,\n" for n in range(5))
    roll = parse_roll(HEADER + rows, REQUIRED_PROFILES)
    assert [(b.line, b.reason) for b in roll.bad] == [
        (6, "cell C1 would have more than 4 occupants")]


@pytest.mark.parametrize("text", ["", "number,name\nA1234BC,John\n", "nonsense\n"])
def test_a_file_without_the_header_is_refused_at_line_1(text: str) -> None:
    roll = parse_roll(text, REQUIRED_PROFILES)
    assert [b.line for b in roll.bad] == [1] and not roll.rows


def test_a_roll_naming_nobody_is_refused_rather_than_releasing_everyone() -> None:
    roll = parse_roll(HEADER, REQUIRED_PROFILES)
    assert [b.line for b in roll.bad] == [1] and "names nobody" in roll.bad[0].reason


def test_the_plan_says_who_is_added_moved_updated_released_and_unchanged() -> None:
    current = {p.number: p for p in (
        Prisoner("A1234BC", "John Smith", cell="C1", release_date="2027-03-01"),
        Prisoner("B2345CD", "Adam Nowak", language="pl", profile="enhanced", cell="C1"),
        Prisoner("C3456DE", "Old Name", cell="C3"),
        Prisoner("D4567EF", "Gone Person", cell="C4"),
    )}
    roll = parse_roll(HEADER + GOOD + "C3456DE,New Name,en,standard,C3,\n"
                      "E5678FG,New Person,en,basic,C5,\n", REQUIRED_PROFILES)
    plan = plan_roll(roll, current, 1000)
    assert plan.summary() == {"added": ["E5678FG"], "readmitted": [], "moved": ["B2345CD"],
                              "updated": ["C3456DE"], "released": ["D4567EF"], "unchanged": 1}
    gone = {p.number: p for p in plan.records}["D4567EF"]
    assert (gone.status, gone.verifier, gone.left_at) == ("released", None, 1000)


def test_a_person_whose_row_is_bad_is_not_taken_for_gone() -> None:
    current = {"A1234BC": Prisoner("A1234BC", "John Smith", cell="C1")}
    roll = parse_roll(HEADER + "A1234BC,John Smith,xx,standard,C1,\n", REQUIRED_PROFILES)
    assert plan_roll(roll, current, 1000).released == []


def write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def test_a_cell_no_tablet_serves_is_reported_when_the_wings_cells_are_known() -> None:
    roll = parse_roll(HEADER + GOOD + "C3456DE,Ian Gray,en,standard,C9,\n", REQUIRED_PROFILES,
                      {"C1", "C2"})
    assert [(b.line, b.reason) for b in roll.bad] == [
        (4, "no cell C9 on this wing: no tablet is registered there")]
    assert [r.person.number for r in roll.rows] == ["A1234BC", "B2345CD"]


def test_import_refuses_a_row_placing_someone_in_a_cell_without_a_tablet(gateway, tmp_path
                                                                          ) -> None:
    roll = write(tmp_path / "roll.csv", HEADER + GOOD + "C3456DE,Ian Gray,en,standard,C99,\n")
    refused = gateway.cli("prisoner", "import", roll)
    assert refused.returncode == 2
    assert "roll.csv:4: no cell C99 on this wing: no tablet is registered there" in refused.stderr
    assert gateway.staff_json("prisoner", "list") == []


def test_import_dry_run_changes_nothing_and_a_second_import_changes_nothing(gateway, tmp_path
                                                                             ) -> None:
    roll = write(tmp_path / "roll.csv", HEADER + GOOD)
    dry = gateway.staff_json("prisoner", "import", roll, "--dry-run")
    assert (dry["applied"], dry["added"]) == (False, ["A1234BC", "B2345CD"])
    assert gateway.staff_json("prisoner", "list") == []
    first = gateway.staff_json("prisoner", "import", roll)
    assert (first["applied"], first["added"], first["tablets"]) == (True, ["A1234BC", "B2345CD"],
                                                                    3)
    entries = len(gateway.staff_json("audit")["entries"])
    again = gateway.staff_json("prisoner", "import", roll)
    assert (again["applied"], again["unchanged"], again["added"]) == (False, 2, [])
    assert len(gateway.staff_json("audit")["entries"]) == entries
    assert {p["number"]: p["cell"] for p in gateway.staff_json("prisoner", "list")} == {
        "A1234BC": "C1", "B2345CD": "C2"}


def test_import_with_a_bad_row_applies_nothing_and_lists_it_unless_skip_bad(gateway, tmp_path
                                                                             ) -> None:
    roll = write(tmp_path / "roll.csv", HEADER + GOOD + "Z1,Bad Row,en,standard,C1,\n")
    refused = gateway.cli("prisoner", "import", roll)
    assert refused.returncode == 2
    assert "roll.csv:4: prison number 'Z1' is not written like A1234BC" in refused.stderr
    assert "nothing changed" in refused.stdout
    assert gateway.staff_json("prisoner", "list") == []
    skipped = gateway.cli("prisoner", "import", roll, "--skip-bad", "--json")
    assert skipped.returncode == 0, skipped.stderr
    assert json.loads(skipped.stdout)["added"] == ["A1234BC", "B2345CD"]
    assert len(gateway.staff_json("prisoner", "list")) == 2
