"""The shell sees the policy's decision as a curfew view and app tiles."""

from __future__ import annotations

from agent.policy_view import app_tiles, curfew_view, without_builds
from tests.policy.samples import policy
from wire.policy import Lockdown
from wire.schedule import Schedule, utc_ms

POLICY = policy(lockdowns=(Lockdown(name="Wing search", start="2026-12-02T08:00", end="2026-12-02T12:00"),))
SCHEDULE = Schedule(POLICY)


def test_the_home_screen_shows_the_profiles_apps_and_the_always_allowed_ones() -> None:
    now = utc_ms("2026-11-11T18:00Z")
    tiles = app_tiles(POLICY, SCHEDULE.decide("basic", now), now)
    assert {t.id: t.allowed_now for t in tiles} == {
        "canteen": True, "education": True, "legal": True, "listener": True,
    }


def test_an_app_about_to_close_says_when() -> None:
    now = utc_ms("2026-11-11T20:50Z")
    tiles = {t.id: t for t in app_tiles(POLICY, SCHEDULE.decide("enhanced", now), now)}
    assert tiles["games"].closes_at == utc_ms("2026-11-11T21:00Z")
    assert tiles["music"].closes_at is None  # curfew at 22:00 is beyond the warning period
    assert tiles["listener"].closes_at is None


def test_in_curfew_the_profiles_apps_are_shown_but_not_allowed() -> None:
    now = utc_ms("2026-11-12T01:00Z")
    tiles = {t.id: t for t in app_tiles(POLICY, SCHEDULE.decide("standard", now), now)}
    assert not tiles["music"].allowed_now
    assert tiles["listener"].allowed_now and tiles["listener"].always_allowed


def test_a_lockdown_is_shown_as_curfew_with_its_name() -> None:
    view = curfew_view(SCHEDULE.decide("standard", utc_ms("2026-12-02T09:00Z")))
    assert (view.state, view.label) == ("curfew", "Wing search")
    assert view.ends_at == utc_ms("2026-12-02T12:00Z")


def test_a_warning_carries_the_minutes_left() -> None:
    view = curfew_view(SCHEDULE.decide("standard", utc_ms("2026-11-11T21:55Z")))
    assert (view.state, view.minutes_left, view.starts_at) == ("warning", 5, utc_ms("2026-11-11T22:00Z"))


def test_no_policy_or_no_time_is_unknown() -> None:
    assert curfew_view(None).state == "unknown"
    assert curfew_view(SCHEDULE.decide("standard", None)).state == "unknown"


def test_an_app_whose_pinned_build_is_not_installed_yet_is_shown_but_cannot_start() -> None:
    now = utc_ms("2026-11-11T20:50Z")
    tiles = {t.id: t for t in without_builds(
        app_tiles(POLICY, SCHEDULE.decide("enhanced", now), now), {"games", "legal"})}
    assert (tiles["games"].allowed_now, tiles["games"].closes_at) == (False, None)
    assert not tiles["legal"].allowed_now
    assert tiles["music"].allowed_now and tiles["listener"].allowed_now
