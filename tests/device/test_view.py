"""The shell's view rules (which screen, which tiles, which words), without Kivy."""

from __future__ import annotations

import pytest

from device import view
from tests.device.states import (
    CALCULATOR,
    GAMES,
    LISTENER,
    NOW,
    curfew_now,
    curfew_warning,
    locked,
    state,
    updating,
)
from wire.documents import LockView
from wire.localapi import CurfewView, UpdateView, failsafe_state


@pytest.mark.parametrize(
    ("shell_state", "user_screen", "expected"),
    [
        (state(), "home", "home"),
        (state(), "lessons", "lessons"),
        (locked(), "lessons", "lock"),
        (failsafe_state("t-0001", "agent unreachable"), "home", "lock"),
        (state(locked=False, lock=LockView(locked=True, source="wing")), "home", "lock"),
        (curfew_now(), "requests", "curfew"),
        (state(curfew=CurfewView(state="unknown")), "home", "curfew"),
        (curfew_warning(), "home", "home"),
        (updating(), "settings", "updating"),
        (state(update=UpdateView(state="downloading", progress=3)), "home", "home"),
        (locked().model_copy(update={"curfew": CurfewView(state="curfew")}), "home", "lock"),
        (
            curfew_now().model_copy(update={"update": UpdateView(state="rebooting")}),
            "home",
            "curfew",
        ),
    ],
)
def test_the_imposed_screen_wins_else_the_prisoner_stays_where_they_were(
    shell_state, user_screen, expected
):
    assert view.screen_for(shell_state, user_screen) == expected


def test_home_offers_only_apps_the_agent_allows_now():
    assert view.home_tiles(state()) == (LISTENER, CALCULATOR)
    assert GAMES not in view.home_tiles(state())


def test_lock_and_curfew_offer_only_always_allowed_apps():
    assert view.restricted_tiles(locked()) == (LISTENER,)


@pytest.mark.parametrize(
    ("before", "now", "closes"),
    [
        (None, "lock", True),
        (None, "curfew", True),
        (None, "updating", True),
        ("curfew", "lock", True),
        ("lock", "curfew", True),
        ("lock", "lock", False),  # an app opened from the lock screen's own tiles stays
        ("curfew", "curfew", False),
        ("lock", None, False),  # unlocked: what the state allows decides
        (None, None, False),
    ],
)
def test_a_lock_curfew_or_update_that_begins_closes_any_open_app(before, now, closes):
    assert view.closes_open_apps(before, now) is closes


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (0, "0 minutes"),
        (1, "1 minute"),
        (14, "14 minutes"),
        (60, "1 hour"),
        (65, "1 hour 5 minutes"),
        (121, "2 hours 1 minute"),
    ],
)
def test_time_left_reads_as_words(minutes, text):
    assert view.format_minutes(minutes) == text


def test_minutes_until_rounds_up_so_30_seconds_is_one_minute():
    assert view.minutes_until(NOW + 30_000, NOW) == 1
    assert view.minutes_until(NOW - 5_000, NOW) == 0


def test_clock_shows_prison_local_time_across_summer_time():
    winter = 1_767_268_800_000  # 2026-01-01 12:00 UTC
    summer = 1_782_907_200_000  # 2026-07-01 12:00 UTC
    assert view.clock_text(winter, "Europe/London") == "12:00"
    assert view.clock_text(summer, "Europe/London") == "13:00"
    assert view.clock_text(None, "Europe/London") == "--:--"


def test_times_are_shown_in_the_wing_policys_zone_not_londons():
    """A wing in New York (the agent passes on its policy's zone): 20:26 UTC is 16:26 there."""
    wing = "America/New_York"
    assert view.clock_text(NOW, wing) == "16:26"
    assert view.lock_since_text(locked().model_copy(update={"timezone": wing})) == (
        "Locked since 16:26."
    )
    night = curfew_now().model_copy(update={"timezone": wing})  # ends 8 hours after NOW
    assert view.curfew_ends_text(night) == "The tablet opens again at 00:26."


def test_before_the_agent_has_a_policy_times_are_shown_in_utc():
    assert view.clock_text(NOW, None) == "20:26"
    assert view.lock_since_text(locked().model_copy(update={"timezone": None})) == (
        "Locked since 20:26."
    )


def test_curfew_warning_banner_counts_down_from_the_trusted_clock():
    banner = view.banner(curfew_warning(14), NOW + 9 * 60_000)
    assert banner is not None
    assert banner.text == "Curfew starts in 5 minutes."
    assert banner.icon == "moon"


def test_no_banner_over_a_lock_screen():
    shell_state = locked().model_copy(
        update={"curfew": CurfewView(state="warning", minutes_left=5)}
    )
    assert view.banner(shell_state, NOW) is None


def test_lock_reason_is_staffs_words_or_a_calm_default():
    assert view.lock_reason_text(locked("Wing search")) == "Wing search"
    assert view.lock_reason_text(locked("  ")) == "Staff have locked this tablet."


def test_connection_is_said_in_words_not_only_colour():
    assert view.connection_status(state(), True) == ("linked", "Connected")
    assert view.connection_status(state(connected=False), True) == ("unlinked", "Not connected")


def test_a_tablet_getting_ready_says_nothing_about_its_connection():
    """The fail-safe lock screen's one sentence is the message; no status-bar word beside it."""
    assert view.connection_status(state(), False) == ("", "")
    starting = failsafe_state("t-0001", "agent unreachable")
    assert view.connection_status(starting, True) == ("", "")


def test_a_screen_that_covers_the_tablet_is_not_repeated_in_the_status_bar():
    assert view.curfew_status(curfew_now(), NOW) == ""
    assert view.update_status(updating(40)) == ""
    assert view.update_status(state(update=UpdateView(state="downloading", progress=5))) == (
        "Downloading update 5%")


def test_the_lock_says_since_when_but_a_fail_safe_lock_does_not():
    assert view.lock_since_text(locked()) == f"Locked since {view.clock_text(NOW, 'Europe/London')}."
    assert view.lock_since_text(failsafe_state("t-0001", "agent unreachable")) == ""


def test_waiting_for_policy_or_time_is_not_called_curfew_on_screen():
    waiting = state(curfew=CurfewView(state="unknown"))
    assert view.screen_for(waiting, "home") == "curfew"  # still fail closed
    assert view.curfew_title(waiting) == "The tablet is getting ready"
    assert view.curfew_title(curfew_now()) == "It is curfew. Time to rest."


def test_a_fail_safe_lock_never_shows_technical_detail():
    broken = failsafe_state("t-0001", "internal error: OperationalError")
    assert view.lock_reason_text(broken) == "Please wait a moment."


def test_a_waiting_tablet_shows_no_technical_label():
    waiting = state(curfew=CurfewView(state="unknown", label="no policy yet"))
    assert view.curfew_name(waiting) == ""
    named = state(curfew=CurfewView(state="curfew", label="Wing search"))
    assert view.curfew_name(named) == "Wing search"


@pytest.mark.parametrize(("reason", "words"), [
    ("curfew", "Not available during curfew."),
    ("no trusted time yet: curfew rules apply", "Not available during curfew."),
    ("lockdown", "Not available during a lockdown."),
    ("the tablet is locked", "Not available while the tablet is locked."),
    ("outside its hours", "Music is not available at this time of day."),
    ("not in the basic profile", "Not allowed for you."),
    ("unknown profile 'vip'", "Not allowed for you."),
    ("not in the wing's app allow-list", "Not allowed for you."),
    ("sign in to use this app", "Sign in to use Music."),
    ("no wing policy yet", "The tablet is still getting ready. Try again soon."),
    ("no readable manifest: No such file or directory", "This app is being updated. Try again "
     "later."),
    ("manifest refused: expired: 2026-01-01", "This app is being updated. Try again later."),
    ("version 1.0.0 is not the allowed 1.1.0", "This app is being updated. Try again later."),
    ("missing file bin/music", "This app is being updated. Try again later."),
    ("file bin/music changed since it was signed", "This app is being updated. Try again later."),
    ("internal error", "Music cannot start right now."),
    ("launching is not available", "Music cannot start right now."),
])
def test_a_refused_launch_says_why_in_plain_words(reason, words):
    assert view.refusal_text(reason, "Music") == words


def test_a_refusal_is_said_in_the_shown_language():
    from device.i18n import catalogue

    polish = catalogue("pl")
    for _starts, message in view.REFUSALS:
        assert polish.gettext(message) != message, message
    assert view.refusal_text("curfew", "Muzyka", polish) == "Niedostępne w czasie ciszy nocnej."


def test_a_starting_tablet_says_it_is_getting_ready_not_locked():
    starting = failsafe_state("t-0001", "agent starting")
    assert (view.lock_title(starting), view.lock_icon(starting)) == (
        "The tablet is getting ready", "sunrise")
    assert view.lock_reason_text(starting) == "Please wait a moment."
    assert (view.lock_title(locked("Search")), view.lock_icon(locked("Search"))) == (
        "This tablet is locked", "lock")


def test_a_locked_tablet_shows_no_curfew_countdown():
    soon = curfew_warning(5)
    assert view.curfew_status(soon, NOW) != ""
    locked_soon = soon.model_copy(update={"locked": True, "lock": locked("Search").lock})
    assert view.curfew_status(locked_soon, NOW) == ""


def test_a_wiped_tablet_says_it_was_reset_and_waits_for_staff():
    from wire.localapi import RESET_REASON

    assert view.RESET_REASON == RESET_REASON  # one spelling on both sides of the socket
    for reason in (RESET_REASON, f"{RESET_REASON} (the reset failed)"):
        reset = failsafe_state("t-0001", reason)
        assert view.lock_title(reset) == "This tablet was reset"
        assert view.lock_reason_text(reset) == "Staff will set it up for its next user."
    assert view.lock_title(locked(RESET_REASON)) == "This tablet is locked"  # staff's words
