"""The audit throttle's burst (the agent admits a few of a kind per window) and drain (what is
counted is reported before stopping); the gateway's use is specified in tests/gateway."""

from common.throttle import AuditThrottle


def test_a_burst_of_a_kind_is_admitted_then_repeats_are_counted_until_the_window_ends():
    throttle = AuditThrottle(window_ms=1000, burst=3)
    assert [throttle.admit("k", t) for t in (0, 1, 2, 3, 4)] == [0, 0, 0, None, None]
    assert throttle.admit("other", 5) == 0
    assert throttle.admit("k", 1000) == 2


def test_drain_hands_over_what_was_counted_and_forgets_it():
    throttle = AuditThrottle(window_ms=1000)
    throttle.admit("k", 0)
    throttle.admit("k", 1)
    throttle.admit("k", 2)
    assert throttle.drain() == {"k": 2}
    assert throttle.drain() == {}
    assert throttle.admit("k", 1000) == 0
