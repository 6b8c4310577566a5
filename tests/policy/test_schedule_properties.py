"""Properties of the schedule at every instant, in several time zones and across their DST changes."""

from __future__ import annotations

import zoneinfo
from datetime import datetime, timedelta

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.policy.samples import policy, windows
from wire.policy import WEEKDAYS, Lockdown, Override
from wire.schedule import Decision, Schedule, utc_ms

ZONES = ["Europe/London", "America/New_York", "Australia/Sydney", "Australia/Lord_Howe"]
CURFEWS = windows("sun-thu 22:00-07:00", "fri-sat 23:00-08:00", "weekdays 12:30-13:15")
SCHEDULES = {
    zone: Schedule(
        policy(
            timezone=zone,
            curfew=CURFEWS,
            overrides=(
                Override(name="Late association", start="2026-10-25T21:00",
                         end="2026-10-26T00:30", effect="open"),
            ),
            lockdowns=(Lockdown(name="Search", start="2026-11-01T01:15", end="2026-11-01T03:00"),),
        )
    )
    for zone in ZONES
}
PROFILES = ["basic", "standard", "enhanced", "resettlement", "unknown-profile"]
ALWAYS = {"listener", "legal"}

# 2026, with extra weight near every DST change of these zones.
START, END = utc_ms("2026-01-01T00:00Z"), utc_ms("2027-01-01T00:00Z")
CHANGES = [
    utc_ms(t)
    for t in (
        "2026-03-29T01:00Z", "2026-10-25T01:00Z",  # London
        "2026-03-08T07:00Z", "2026-11-01T06:00Z",  # New York
        "2026-04-04T16:00Z", "2026-10-03T16:00Z",  # Sydney
        "2026-04-04T14:30Z", "2026-10-03T15:30Z",  # Lord Howe (half an hour)
    )
]
instants = st.one_of(
    st.integers(START, END),
    st.builds(lambda c, d: c + d, st.sampled_from(CHANGES), st.integers(-3 * 86_400_000, 3 * 86_400_000)),
)


def essence(decision: Decision) -> tuple[object, ...]:
    return (decision.state, decision.label, decision.warning, decision.allowed_apps)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ZONES), st.sampled_from(PROFILES), instants)
def test_every_instant_has_one_answer_that_holds_until_its_next_boundary(
    zone: str, profile: str, now: int
) -> None:
    decision = SCHEDULES[zone].decide(profile, now)
    assert decision.next_boundary is not None and decision.next_boundary > now
    just_before = decision.next_boundary - 1
    assert essence(SCHEDULES[zone].decide(profile, just_before)) == essence(decision)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ZONES), st.sampled_from(PROFILES), instants, st.integers(0, 10**9))
def test_the_answer_does_not_change_before_the_next_boundary(
    zone: str, profile: str, now: int, offset: int
) -> None:
    decision = SCHEDULES[zone].decide(profile, now)
    assert decision.next_boundary is not None
    inside = now + offset % (decision.next_boundary - now)
    assert essence(SCHEDULES[zone].decide(profile, inside)) == essence(decision)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ZONES), st.sampled_from(PROFILES), instants)
def test_the_answer_does_not_depend_on_what_was_asked_before(zone: str, profile: str, now: int) -> None:
    fresh = Schedule(SCHEDULES[zone].policy)
    warmed = Schedule(SCHEDULES[zone].policy)
    for days in (-9, -3, 3, 9):
        warmed.decide(profile, now + days * 86_400_000)
    assert fresh.decide(profile, now) == warmed.decide(profile, now)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ZONES), st.sampled_from(PROFILES), instants)
def test_apps_run_only_while_open_and_always_allowed_apps_always_run(
    zone: str, profile: str, now: int
) -> None:
    decision = SCHEDULES[zone].decide(profile, now)
    assert decision.allowed_apps.issuperset(ALWAYS)
    if decision.state not in ("open", "warning"):
        assert decision.allowed_apps == ALWAYS
    for app in decision.apps:
        if app.allowed and not app.always_allowed:
            assert app.until is None or app.until > now


def in_weekly_curfew_by_the_wall_clock(zone: str, now: int) -> bool:
    """An independent reading: the prison clock's wall time against the windows."""
    local = datetime.fromtimestamp(now / 1000, zoneinfo.ZoneInfo(zone))
    minute = local.hour * 60 + local.minute
    today = WEEKDAYS[local.weekday()]
    yesterday = WEEKDAYS[(local.date() - timedelta(days=1)).weekday()]
    for window in CURFEWS:
        crosses = window.end <= window.start
        if today in window.days and window.start <= minute and (crosses or minute < window.end):
            return True
        if crosses and yesterday in window.days and minute < window.end:
            return True
    return False


def wall_clock_is_unambiguous(zone: str, now: int) -> bool:
    """False within two hours of a clock change (the repeated or skipped hour and its edges)."""
    return all(abs(now - change) > 2 * 3_600_000 for change in CHANGES)


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(ZONES), instants)
def test_the_curfew_matches_the_prison_wall_clock(zone: str, now: int) -> None:
    assume(wall_clock_is_unambiguous(zone, now))
    decision = SCHEDULES[zone].decide("standard", now)
    assume(decision.label in ("open", "curfew"))  # no override or lockdown in force
    assert (decision.state == "curfew") == in_weekly_curfew_by_the_wall_clock(zone, now)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ZONES), instants)
def test_a_closed_stretch_starts_and_ends_at_real_changes(zone: str, now: int) -> None:
    schedule = SCHEDULES[zone]
    decision = schedule.decide("standard", now)
    if decision.starts_at is not None and decision.ends_at is not None:
        assert decision.starts_at < decision.ends_at
        assert schedule.decide("standard", decision.starts_at).state in ("curfew", "lockdown")
        assert schedule.decide("standard", decision.starts_at - 1).state == "warning"
        assert schedule.decide("standard", decision.ends_at).state in ("open", "warning")
        assert schedule.decide("standard", decision.ends_at - 1).state in ("curfew", "lockdown")
