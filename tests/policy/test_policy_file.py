"""Policy files staff write: the example is valid, and every mistake is named by line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.policy_file import PolicyFileError, load_rules, parse_rules, rules_to_toml
from wire.policy import policy_hash, wing_policy
from wire.schedule import Schedule, utc_ms

EXAMPLE = Path(__file__).parents[2] / "gateway" / "policies" / "example.toml"
ENVELOPE = {"audience": "wing:A", "version": 1, "issued": 0, "expires": 1}


def example_text() -> str:
    return EXAMPLE.read_text()


def test_the_example_policy_is_valid_and_means_what_it_says() -> None:
    policy = wing_policy(load_rules(EXAMPLE), **ENVELOPE)
    schedule = Schedule(policy)
    assert schedule.decide("enhanced", utc_ms("2026-11-11T22:30Z")).state == "curfew"
    assert schedule.decide("enhanced", utc_ms("2026-12-02T09:00Z")).label == "Wing search"
    assert set(policy.always_allowed) == {"listener", "legal"}


def test_what_policy_show_prints_reads_back_as_the_same_rules() -> None:
    policy = wing_policy(load_rules(EXAMPLE), **ENVELOPE)
    again = wing_policy(parse_rules(rules_to_toml(policy)), **ENVELOPE)
    assert policy_hash(again) == policy_hash(policy)


def test_the_policy_hash_names_the_rules_not_the_envelope() -> None:
    rules = load_rules(EXAMPLE)
    first = wing_policy(rules, **ENVELOPE)
    reissued = wing_policy(rules, **{**ENVELOPE, "version": 2, "issued": 5, "expires": 9})
    changed = wing_policy({**rules, "warn_minutes": [10, 1]}, **ENVELOPE)
    assert policy_hash(first) == policy_hash(reissued) != policy_hash(changed)


def edited(old: str, new: str) -> str:
    text = example_text()
    assert old in text
    return text.replace(old, new, 1)


def line_of(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


MISTAKES = [
    ('"fri-sat 23:00-08:00"', '"fri-sat 23:00-0800"', "curfew.windows[2]", "is not DAYS HH:MM-HH:MM"),
    ('"sun-thu 22:00-07:00"', '"sun-thurs 22:00-07:00"', "curfew.windows[1]", "'sun-thurs' is not a day"),
    ('timezone = "Europe/London"', 'timezone = "Europe/Londres"', "timezone", "unknown time zone"),
    ('warn_minutes = [15, 5, 1]', 'warn_minutes = [1, 5, 15]', "warn_minutes", "largest first"),
    ('as = "sun"', 'as = "sunday"', "bank_holiday[1].as", "'sunday' should be 'mon', 'tue'"),
    ("[[exception]]\nname = \"Late", "[[exception]]\nname = \"Early", "exception[1]", "ends (2026-12-31T21:00) before it starts"),
    ("start = 2026-12-02T08:00:00", "start = 2026-12-02T08:00:00Z", "lockdown[1].start", "without an offset"),
    ('\neffect = "open"', '\neffect = "party"', "exception[1].effect", "'party' should be 'open' or 'curfew'"),
    ('apps = ["education", "canteen"]\n', 'apps = ["education", "canteen", "casino"]\n', "", "apps not in the catalogue: casino"),
    ('[profiles.enhanced]\napps = ["education", "canteen", "music", "games"]', '[profiles.enhanced]\napps = ["education", "canteen", "music"]', "profiles.enhanced", "hours given for apps not in this profile: games"),
    ('version = "2.1.0"', 'version = "2.1.0 beta"', "apps.listener.version", "'2.1.0 beta' is not a release version: up to four numbers"),
    ('version = "1.0.0"\nicon = "music"', 'version = "banana"\nicon = "music"', "apps.music.version", "'banana' is not a release version: up to four numbers separated by dots, like 1.4.0"),
    ('name = "Music"', 'name = 5', "apps.music.name", "5 should be text in quotes"),
    ('warn_minutes = [15, 5, 1]', 'warn_minutes = "soon"', "warn_minutes", "'soon' should be a list, like [15, 5, 1]"),
    ('name = "Music"', 'name = "' + "M" * 130 + '"', "apps.music.name", "is longer than 120 characters"),
    ('name = "A wing: standard regime"', 'nmae = "A wing: standard regime"', "nmae", "unknown setting"),
]


@pytest.mark.parametrize(("old", "new", "field", "reason"), MISTAKES)
def test_a_mistake_is_refused_with_its_line_field_and_reason(
    old: str, new: str, field: str, reason: str
) -> None:
    text = edited(old, new)
    if "Early" in new:
        text = text.replace("end = 2027-01-01T00:30:00", "end = 2026-12-31T21:00:00")
    with pytest.raises(PolicyFileError) as caught:
        parse_rules(text, source="wing.toml")
    message = str(caught.value)
    assert "\n" not in message
    assert reason in message
    assert not any(dump in message for dump in ("Input should", "validation error", "pattern"))
    if field:
        needle = next(line for line in new.splitlines() if line)
        assert f"wing.toml:{line_of(text, needle)}: {field}: " in message


def test_a_profile_left_out_is_named() -> None:
    text = edited("[profiles.resettlement]", "[profiles.resettled]")
    with pytest.raises(PolicyFileError, match="profiles: missing resettlement"):
        parse_rules(text)


def test_broken_toml_is_refused_with_its_line() -> None:
    with pytest.raises(PolicyFileError) as caught:
        parse_rules('name = "x"\n\ntimezone = \n', source="wing.toml")
    assert str(caught.value) == "wing.toml:3: not valid TOML: Invalid value (column 12)"


def test_a_float_is_refused() -> None:
    with pytest.raises(PolicyFileError, match="floats are not allowed"):
        parse_rules(edited("warn_minutes = [15, 5, 1]", "warn_minutes = [15.0, 5, 1]"))


def test_a_missing_file_is_a_one_line_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyFileError, match="cannot read"):
        load_rules(tmp_path / "nope.toml")


def test_toml_nested_deeper_than_the_parser_recurses_is_a_one_line_error(tmp_path: Path) -> None:
    deep = tmp_path / "deep.toml"
    deep.write_text("name = " + "[" * 5000 + "\n")
    with pytest.raises(PolicyFileError, match=r"deep.toml: not valid TOML: .*nested"):
        load_rules(deep)


def test_text_with_quotes_newlines_and_control_characters_reads_back_the_same() -> None:
    rules = load_rules(EXAMPLE)
    tricky = 'Staff note: "late" association\nline two\twith a tab \\ and \x07'
    policy = wing_policy({**rules, "note": tricky}, **ENVELOPE)
    again = wing_policy(parse_rules(rules_to_toml(policy)), **ENVELOPE)
    assert again.note == tricky
    assert policy_hash(again) == policy_hash(policy)
