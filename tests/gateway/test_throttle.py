"""Repeated complaints: the first is audited at once, repeats counted into the next entry."""

from gateway.throttle import AuditThrottle


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
