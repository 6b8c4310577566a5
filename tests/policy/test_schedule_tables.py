"""The schedule, as tables: for an instant (UTC) and a profile, the tablet's state and apps.

Europe/London in 2026: British Summer Time from 29 March 01:00 UTC to 25 October 01:00 UTC. The
sample regime: Sunday-Thursday nights 22:00-07:00, Friday and Saturday nights 23:00-08:00.
"""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime

import pytest

from tests.policy.samples import policy, windows
from wire.policy import DayRegime, Lockdown, Override
from wire.schedule import Schedule, local_instant, utc_ms

LONDON = zoneinfo.ZoneInfo("Europe/London")
ALWAYS = {"listener", "legal"}


def at(text: str) -> int:
    return utc_ms(text)


ORDINARY = Schedule(policy())

# instant, state, label, starts_at, ends_at
ORDINARY_NIGHTS = [
    ("2026-11-11T21:00Z", "open", "open", "2026-11-11T22:00Z", "2026-11-12T07:00Z"),
    ("2026-11-11T22:00Z", "curfew", "curfew", "2026-11-11T22:00Z", "2026-11-12T07:00Z"),
    ("2026-11-12T06:59Z", "curfew", "curfew", "2026-11-11T22:00Z", "2026-11-12T07:00Z"),
    ("2026-11-12T07:00Z", "open", "open", "2026-11-12T22:00Z", "2026-11-13T07:00Z"),
    # summer: the same wall-clock times are an hour earlier in UTC
    ("2026-07-15T20:30Z", "open", "open", "2026-07-15T21:00Z", "2026-07-16T06:00Z"),
    ("2026-07-15T21:00Z", "curfew", "curfew", "2026-07-15T21:00Z", "2026-07-16T06:00Z"),
    # Friday night runs across midnight into Saturday, and Saturday's into Sunday
    ("2026-11-13T22:30Z", "open", "open", "2026-11-13T23:00Z", "2026-11-14T08:00Z"),
    ("2026-11-14T00:30Z", "curfew", "curfew", "2026-11-13T23:00Z", "2026-11-14T08:00Z"),
    ("2026-11-15T07:59Z", "curfew", "curfew", "2026-11-14T23:00Z", "2026-11-15T08:00Z"),
    ("2026-11-15T08:00Z", "open", "open", "2026-11-15T22:00Z", "2026-11-16T07:00Z"),
]


@pytest.mark.parametrize(("instant", "state", "label", "starts", "ends"), ORDINARY_NIGHTS)
def test_ordinary_nights(instant: str, state: str, label: str, starts: str, ends: str) -> None:
    decision = ORDINARY.decide("standard", at(instant))
    assert (decision.state, decision.label) == (state, label)
    assert (decision.starts_at, decision.ends_at) == (at(starts), at(ends))


# The clocks go forward at 01:00 UTC on Sunday 29 March: Saturday night's curfew is an hour
# shorter (23:00 GMT to 08:00 BST); they go back at 01:00 UTC on 25 October: an hour longer.
DST_NIGHTS = [
    ("2026-03-28T23:00Z", "2026-03-29T07:00Z", 8),
    ("2026-10-24T22:00Z", "2026-10-25T08:00Z", 10),
]


@pytest.mark.parametrize(("starts", "ends", "hours"), DST_NIGHTS)
def test_a_curfew_across_a_clock_change_keeps_its_wall_clock_times(
    starts: str, ends: str, hours: int
) -> None:
    for instant in (at(starts), at(starts) + 3_600_000 * 2, at(ends) - 1):
        decision = ORDINARY.decide("standard", instant)
        assert decision.state == "curfew"
        assert (decision.starts_at, decision.ends_at) == (at(starts), at(ends))
    assert (at(ends) - at(starts)) // 3_600_000 == hours
    assert ORDINARY.decide("standard", at(ends)).state == "open"


def test_a_time_the_clocks_skip_starts_when_the_clock_skips_it() -> None:
    assert local_instant(LONDON, date(2026, 3, 29), 90) == at("2026-03-29T01:00Z")
    schedule = Schedule(policy(curfew=windows("sun 01:30-03:00")))
    decision = schedule.decide("standard", at("2026-03-29T01:00Z"))
    assert (decision.state, decision.starts_at, decision.ends_at) == (
        "curfew",
        at("2026-03-29T01:00Z"),
        at("2026-03-29T02:00Z"),
    )
    assert schedule.decide("standard", at("2026-03-29T00:59Z")).state == "warning"


def test_a_time_the_clocks_repeat_means_its_first_occurrence() -> None:
    assert local_instant(LONDON, date(2026, 10, 25), 90) == at("2026-10-25T00:30Z")
    schedule = Schedule(policy(curfew=windows("sun 01:30-01:45")))
    assert schedule.decide("standard", at("2026-10-25T00:40Z")).state == "curfew"
    # 01:35 again, an hour later (GMT): the window has passed
    assert schedule.decide("standard", at("2026-10-25T01:35Z")).state == "open"


WARNINGS = [
    ("2026-11-11T21:44:59Z", "open", None, None),
    ("2026-11-11T21:45Z", "warning", 15, 15),
    ("2026-11-11T21:50Z", "warning", 15, 10),
    ("2026-11-11T21:55Z", "warning", 5, 5),
    ("2026-11-11T21:59Z", "warning", 1, 1),
    ("2026-11-11T21:59:30Z", "warning", 1, 1),
]


@pytest.mark.parametrize(("instant", "state", "warning", "minutes_left"), WARNINGS)
def test_warnings_at_15_5_and_1_minutes(
    instant: str, state: str, warning: int | None, minutes_left: int | None
) -> None:
    decision = ORDINARY.decide("standard", at(instant))
    assert (decision.state, decision.warning, decision.minutes_left) == (
        state,
        warning,
        minutes_left,
    )


def test_each_warning_threshold_is_a_boundary() -> None:
    boundaries = [
        ORDINARY.decide("standard", at(t)).next_boundary
        for t in ("2026-11-11T21:00Z", "2026-11-11T21:45Z", "2026-11-11T21:55Z", "2026-11-11T21:59Z")
    ]
    assert boundaries == [
        at("2026-11-11T21:45Z"),
        at("2026-11-11T21:55Z"),
        at("2026-11-11T21:59Z"),
        at("2026-11-11T22:00Z"),
    ]


BANK_HOLIDAY = Schedule(
    policy(day_regimes=(DayRegime(name="Bank holiday", date="2026-12-28", as_day="sat"),))
)


def test_a_bank_holiday_runs_under_another_days_windows() -> None:
    decision = BANK_HOLIDAY.decide("standard", at("2026-12-28T22:30Z"))
    assert decision.state == "open"
    assert (decision.starts_at, decision.ends_at) == (at("2026-12-28T23:00Z"), at("2026-12-29T08:00Z"))
    # the night before the holiday is still an ordinary Sunday night
    assert BANK_HOLIDAY.decide("standard", at("2026-12-28T06:59Z")).state == "curfew"
    assert BANK_HOLIDAY.decide("standard", at("2026-12-28T07:00Z")).state == "open"


LATE_ASSOCIATION = Schedule(
    policy(
        overrides=(
            Override(
                name="Late association",
                start="2026-07-19T21:30",
                end="2026-07-19T23:30",
                effect="open",
            ),
        )
    )
)


@pytest.mark.parametrize(
    ("instant", "state", "label"),
    [
        ("2026-07-19T20:00Z", "open", "open"),
        ("2026-07-19T21:15Z", "open", "Late association"),
        ("2026-07-19T22:15Z", "warning", "Late association"),
        ("2026-07-19T22:30Z", "curfew", "curfew"),
    ],
)
def test_a_late_association_lifts_the_curfew_for_its_hours(
    instant: str, state: str, label: str
) -> None:
    decision = LATE_ASSOCIATION.decide("standard", at(instant))
    assert (decision.state, decision.label) == (state, label)
    assert decision.starts_at == at("2026-07-19T22:30Z")
    assert decision.ends_at == at("2026-07-20T06:00Z")


def test_an_added_curfew_closes_the_tablet_in_the_afternoon() -> None:
    schedule = Schedule(
        policy(
            overrides=(
                Override(name="Staff training", start="2026-11-11T14:00",
                         end="2026-11-11T16:00", effect="curfew"),
            )
        )
    )
    decision = schedule.decide("standard", at("2026-11-11T15:00Z"))
    assert (decision.state, decision.label, decision.ends_at) == (
        "curfew", "Staff training", at("2026-11-11T16:00Z")
    )


LOCKDOWN = Schedule(
    policy(
        lockdowns=(
            Lockdown(name="Search: A wing", start="2026-11-11T20:00", end="2026-11-12T12:00"),
        ),
        overrides=(
            Override(name="Late association", start="2026-11-11T21:00",
                     end="2026-11-11T23:00", effect="open"),
        ),
    )
)


@pytest.mark.parametrize("instant", ["2026-11-11T20:00Z", "2026-11-11T21:30Z", "2026-11-11T23:00Z", "2026-11-12T07:30Z"])
def test_a_lockdown_over_a_curfew_and_an_override_holds_from_start_to_end(instant: str) -> None:
    decision = LOCKDOWN.decide("enhanced", at(instant))
    assert (decision.state, decision.label) == ("lockdown", "Search: A wing")
    assert (decision.starts_at, decision.ends_at) == (at("2026-11-11T20:00Z"), at("2026-11-12T12:00Z"))
    assert decision.allowed_apps == ALWAYS


def test_a_lockdown_is_warned_like_a_curfew() -> None:
    decision = LOCKDOWN.decide("standard", at("2026-11-11T19:50Z"))
    assert (decision.state, decision.warning) == ("warning", 15)


WEDNESDAY_EVENING = at("2026-11-11T18:00Z")
PROFILES = [
    ("enhanced", {"education", "canteen", "music", "games"}),
    ("standard", {"education", "canteen", "music"}),
    ("basic", {"education", "canteen"}),
    ("resettlement", {"education", "canteen", "music"}),  # job search is 09:00-17:00 only
]


@pytest.mark.parametrize(("profile", "apps"), PROFILES)
def test_each_profile_allows_its_apps_in_their_hours(profile: str, apps: set[str]) -> None:
    assert ORDINARY.decide(profile, WEDNESDAY_EVENING).allowed_apps == apps | ALWAYS


def test_a_profile_change_mid_window_changes_the_apps_at_once() -> None:
    enhanced = ORDINARY.decide("enhanced", WEDNESDAY_EVENING)
    basic = ORDINARY.decide("basic", WEDNESDAY_EVENING)
    assert enhanced.state == basic.state == "open"
    assert enhanced.app("games").allowed
    assert enhanced.app("games").until == at("2026-11-11T21:00Z")
    assert (basic.app("games").allowed, basic.app("games").reason) == (False, "not in the basic profile")


def test_an_app_with_hours_closes_at_their_end_and_that_is_a_boundary() -> None:
    decision = ORDINARY.decide("enhanced", at("2026-11-11T20:50Z"))
    assert decision.next_boundary == at("2026-11-11T20:55Z")  # its 5-minute warning
    assert ORDINARY.decide("enhanced", at("2026-11-11T20:59:30Z")).next_boundary == at(
        "2026-11-11T21:00Z"
    )
    later = ORDINARY.decide("enhanced", at("2026-11-11T21:00Z"))
    assert (later.app("games").allowed, later.app("games").reason) == (False, "outside its hours")


def test_in_curfew_only_the_always_allowed_apps_run() -> None:
    decision = ORDINARY.decide("enhanced", at("2026-11-12T01:00Z"))
    assert decision.allowed_apps == ALWAYS
    assert decision.app("music").reason == "curfew"


def test_a_locked_tablet_runs_only_the_always_allowed_apps() -> None:
    decision = ORDINARY.decide("enhanced", WEDNESDAY_EVENING, locked=True)
    assert decision.allowed_apps == ALWAYS
    assert decision.app("education").reason == "the tablet is locked"


def test_without_trusted_time_curfew_rules_apply() -> None:
    decision = ORDINARY.decide("enhanced", None)
    assert (decision.state, decision.next_boundary) == ("unknown", None)
    assert decision.allowed_apps == ALWAYS


def test_an_unknown_profile_gets_only_the_always_allowed_apps() -> None:
    decision = ORDINARY.decide("vip", WEDNESDAY_EVENING)
    assert decision.allowed_apps == ALWAYS
    assert decision.app("music").reason == "unknown profile 'vip'"


def test_an_app_outside_the_catalogue_is_never_allowed() -> None:
    decision = ORDINARY.decide("enhanced", WEDNESDAY_EVENING)
    assert not decision.app("shell").allowed


def _first_instant_by_round_trip(tz: zoneinfo.ZoneInfo, day: date, minute: int) -> int:
    """`local_instant` as first written (the naive time's round trip through the zone): the
    oracle for the quicker one."""
    naive = datetime(day.year, day.month, day.day, minute // 60, minute % 60)
    first = int(naive.replace(tzinfo=tz, fold=0).timestamp())
    if datetime.fromtimestamp(first, tz).replace(tzinfo=None) == naive:
        return first * 1000
    second = int(naive.replace(tzinfo=tz, fold=1).timestamp())
    lo, hi = min(first, second), max(first, second)
    while lo < hi:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).replace(tzinfo=None) >= naive:
            hi = mid
        else:
            lo = mid + 1
    return lo * 1000


@pytest.mark.parametrize(("zone", "day"), [
    ("Europe/London", date(2026, 3, 29)), ("Europe/London", date(2026, 10, 25)),
    ("Australia/Lord_Howe", date(2026, 4, 5)), ("Australia/Lord_Howe", date(2026, 10, 4)),
    ("America/St_Johns", date(2026, 3, 8)), ("Asia/Kolkata", date(2026, 6, 1)),
])
def test_every_minute_of_a_clock_change_day_maps_to_its_first_instant(zone: str, day: date
                                                                     ) -> None:
    tz = zoneinfo.ZoneInfo(zone)
    for minute in range(24 * 60):
        assert local_instant(tz, day, minute) == _first_instant_by_round_trip(tz, day, minute)


def test_overlapping_curfew_windows_make_one_curfew_until_the_last_ends() -> None:
    schedule = Schedule(policy(curfew=windows("daily 22:00-07:00", "daily 06:00-08:00",
                                              "daily 06:30-07:30")))
    for instant in ("2026-11-12T06:30Z", "2026-11-12T07:00Z", "2026-11-12T07:45Z"):
        decision = schedule.decide("standard", at(instant))
        assert (decision.state, decision.starts_at, decision.ends_at) == (
            "curfew", at("2026-11-11T22:00Z"), at("2026-11-12T08:00Z"))
    assert schedule.decide("standard", at("2026-11-12T08:00Z")).state == "open"
