"""Repeated complaints: the first is audited at once, repeats counted into the next entry."""

from gateway.throttle import AuditThrottle, Spacing


def test_the_first_complaint_is_admitted_and_repeats_in_the_window_are_counted():
    throttle = AuditThrottle(window_ms=1000)
    assert throttle.admit("T1", 0) == 0
    assert throttle.admit("T1", 10) is None
    assert throttle.admit("T1", 20) is None
    assert throttle.admit("T2", 20) == 0
    assert throttle.admit("T1", 1000) == 2


def test_many_distinct_offenders_share_one_overflow_entry_per_window():
    throttle = AuditThrottle(window_ms=1000, max_keys=3)
    assert [throttle.admit(f"X{i}", 0) for i in range(3)] == [0, 0, 0]
    assert throttle.admit("X3", 1) == 0  # the overflow entry
    assert throttle.admit("X4", 2) is None
    assert throttle.admit("X5", 1500) == 0  # old keys expired: room again


def test_the_first_birth_runs_at_once():
    assert Spacing(interval_ms=2000).request("T1", 0) == 0


def test_a_birth_inside_the_interval_is_deferred_to_its_end():
    spacing = Spacing(interval_ms=2000)
    spacing.request("T1", 0)
    assert spacing.request("T1", 500) == 1500


def test_births_while_one_is_deferred_join_it():
    spacing = Spacing(interval_ms=2000)
    spacing.request("T1", 0)
    spacing.request("T1", 500)
    assert [spacing.request("T1", t) for t in (600, 1000, 1999)] == [None, None, None]


def test_after_the_deferred_run_the_next_interval_starts_from_it():
    spacing = Spacing(interval_ms=2000)
    spacing.request("T1", 0)
    spacing.request("T1", 500)
    spacing.ran("T1", 2000)
    assert spacing.request("T1", 2500) == 1500
    assert spacing.request("T1", 4100) is None  # still deferred until its run


def test_tablets_are_spaced_independently():
    spacing = Spacing(interval_ms=2000)
    spacing.request("T1", 0)
    assert spacing.request("T2", 1) == 0


def test_a_birth_after_the_interval_runs_at_once():
    spacing = Spacing(interval_ms=2000)
    spacing.request("T1", 0)
    assert spacing.request("T1", 2000) == 0
