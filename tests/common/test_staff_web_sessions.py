"""Server-side sessions: idle 15 minutes, absolute 12 hours, ended on sign-out, bounded."""

from __future__ import annotations

from common.staff_web.sessions import ABSOLUTE_MS, IDLE_MS, Sessions


def test_a_session_lives_while_used_and_dies_after_fifteen_idle_minutes() -> None:
    sessions = Sessions()
    session = sessions.new("ann", 0)
    assert sessions.get(session.id, IDLE_MS) is session
    assert sessions.get(session.id, 2 * IDLE_MS) is session
    assert sessions.get(session.id, 3 * IDLE_MS + 1) is None
    assert sessions.get(session.id, 3 * IDLE_MS + 2) is None  # forgotten, not revived


def test_a_session_dies_after_twelve_hours_however_busy() -> None:
    sessions = Sessions()
    session = sessions.new("ann", 0)
    now = 0
    while now + IDLE_MS // 2 <= ABSOLUTE_MS:
        now += IDLE_MS // 2
        assert sessions.get(session.id, now) is session
    assert sessions.get(session.id, ABSOLUTE_MS + 1) is None


def test_ending_a_session_or_an_account_forgets_it() -> None:
    sessions = Sessions()
    one, two, other = sessions.new("ann", 0), sessions.new("ann", 0), sessions.new("bob", 0)
    sessions.end(one.id)
    assert sessions.get(one.id, 1) is None
    assert sessions.end_account("ann") == 1
    assert sessions.get(two.id, 1) is None
    assert sessions.get(other.id, 1) is other


def test_ids_and_csrf_tokens_are_random_and_the_store_is_bounded() -> None:
    sessions = Sessions(limit=3)
    made = [sessions.new(None, 0) for _ in range(4)]
    assert len({s.id for s in made}) == 4 and len({s.csrf for s in made}) == 4
    assert sessions.get(made[0].id, 1) is None  # the oldest gave way
    assert all(sessions.get(s.id, 1) is s for s in made[1:])
    assert made[1].check_csrf(made[1].csrf) and not made[1].check_csrf(made[2].csrf)
    assert not made[1].check_csrf(None) and not made[1].check_csrf("")
