"""The tablet enforces the wing policy itself: a real agent process on a real broker, its
monotonic and system clocks moved by the test (never the machine's own clock)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.policy import samples
from tests.policy.conftest import WING, Clocks, audit_rows, launch, reported_hash
from tests.policy.samples import OTHER_KEY
from tests.support.agents import AgentProcess, Probe, TestSigner
from tests.support.broker import WingBroker
from tests.support.requests import submit
from wire.documents import SignedTime
from wire.envelope import seal
from wire.policy import WingPolicy, policy_hash
from wire.requests import RequestReply
from wire.schedule import utc_ms

POLICY_TOPIC, TIME_TOPIC = "wing/policy", "wing/time"
TEN_TO_CURFEW = utc_ms("2026-11-11T21:50Z")  # a Wednesday: curfew at 22:00 (GMT)
MIDNIGHT = utc_ms("2026-11-12T00:00Z")
EVENING = utc_ms("2026-11-11T18:00Z")


def policy(**changes: Any) -> WingPolicy:
    return samples.policy(**{"audience": f"wing:{WING}", **changes})


def install_app(apps_dir: Path, app: str) -> Path:
    return samples.install_app(apps_dir, app, wing=WING)


def beacon(signer: TestSigner, at: int) -> bytes:
    return seal(SignedTime(audience=f"wing:{WING}", version=at, issued=at, expires=at + 90_000),
                signer.key)


def start_at(make_agent: Callable[..., AgentProcess], probe: Probe, signer: TestSigner,
             clocks: Clocks, at: int) -> AgentProcess:
    """An agent that holds the sample policy and has trusted time `at`."""
    clocks.set_wall(at)
    agent = make_agent()
    for app in ("listener", "education", "games"):
        install_app(agent.state_dir / "apps", app)
    agent.start()
    agent.wait_connected()
    # What the gateway gives every registered tablet first: unlocked (without it, locked).
    probe.publish("tablet/t1/desired", signer.seal(signer.desired("t1", 1, locked=False)))
    probe.publish(POLICY_TOPIC, seal(policy(), signer.key))
    probe.publish(TIME_TOPIC, beacon(signer, at), retain=False)
    agent.wait_for(lambda s: s.trusted_time is not None and s.curfew.state != "unknown"
                   and not s.locked)
    return agent


def test_with_the_broker_gone_the_tablet_enters_curfew_on_time(
    make_agent: Callable[..., AgentProcess], probe: Probe, signer: TestSigner, clocks: Clocks,
    broker: WingBroker,
) -> None:
    agent = start_at(make_agent, probe, signer, clocks, TEN_TO_CURFEW)
    state = agent.state()
    assert (state.curfew.state, state.curfew.minutes_left) == ("warning", 10)
    assert state.curfew.starts_at == utc_ms("2026-11-11T22:00Z")
    broker.kill()
    agent.wait_for(lambda s: not s.connected)

    clocks.advance(9 * 60)  # 21:59 and a few seconds: the last warning
    warned = agent.wait_for(lambda s: s.curfew.state == "warning" and s.curfew.minutes_left == 1)
    assert {t.id for t in warned.apps if t.allowed_now} >= {"education", "listener"}

    clocks.advance(61)  # past 22:00
    night = agent.wait_for(lambda s: s.curfew.state == "curfew")
    assert night.connected is False
    assert night.curfew.ends_at == utc_ms("2026-11-12T07:00Z")
    assert {t.id for t in night.apps if t.allowed_now} == {"listener", "legal"}


def test_moving_the_system_clock_by_hours_or_days_does_not_end_a_curfew(
    make_agent: Callable[..., AgentProcess], probe: Probe, signer: TestSigner, clocks: Clocks,
) -> None:
    agent = start_at(make_agent, probe, signer, clocks, MIDNIGHT)
    assert agent.state().curfew.state == "curfew"
    for hours in (+9, -9, +24 * 3, -24 * 10):
        clocks.move_wall(hours * 3600)
        jumps = len([r for r in audit_rows(agent) if r[0] == "clock_jump"])
        agent.wait_for(lambda _s, n=jumps: len([r for r in audit_rows(agent)
                                                if r[0] == "clock_jump"]) > n)
        state = agent.state()
        assert state.curfew.state == "curfew"
        assert state.trusted_time is not None and abs(state.trusted_time - MIDNIGHT) < 120_000
        assert launch(agent, "education").ok is False


def test_after_a_restart_without_gateway_time_the_tablet_fails_closed_to_curfew_rules(
    make_agent: Callable[..., AgentProcess], probe: Probe, signer: TestSigner, clocks: Clocks,
    broker: WingBroker,
) -> None:
    agent = start_at(make_agent, probe, signer, clocks, EVENING)
    assert agent.state().curfew.state == "open"
    agent.kill()
    broker.kill()
    clocks.move_wall(-6 * 3600)  # and someone set the clock back, too
    agent.start()
    state = agent.state()
    assert (state.curfew.state, state.trusted_time) == ("unknown", None)
    assert {t.id for t in state.apps if t.allowed_now} == {"listener", "legal"}
    assert launch(agent, "education").reason == "no trusted time yet: curfew rules apply"


def policy_acks(probe: Probe, count: int) -> list[dict[str, str]]:
    acks = []
    for _ in range(count):
        message = probe.expect(lambda m: m.topic == "tablet/t1/ack"
                               and json.loads(m.payload)["ref"].startswith("policy/"))
        acks.append(json.loads(message.payload))
    return acks


def test_a_replayed_unsigned_or_other_wing_policy_is_refused_and_audited(
    make_agent: Callable[..., AgentProcess], probe: Probe, signer: TestSigner, clocks: Clocks,
) -> None:
    agent = start_at(make_agent, probe, signer, clocks, EVENING)
    newer = policy(version=2, name="A wing: version 2")
    probe.publish(POLICY_TOPIC, seal(newer, signer.key))
    probe.expect(lambda m: m.topic == "tablet/t1/reported"
                 and reported_hash(m.payload) == policy_hash(newer))

    replay = seal(policy(version=1, name="A wing: the old one"), signer.key)
    unsigned = seal(policy(version=3), OTHER_KEY)
    envelope = json.loads(seal(policy(version=4, always_allowed=("listener", "legal", "games")),
                               signer.key))
    envelope["body"] = envelope["body"].replace('"version":4', '"version":5')
    forged = json.dumps(envelope).encode()
    other_wing = seal(policy(version=6, audience="wing:B"), signer.key)
    for bad in (replay, unsigned, forged, other_wing):
        probe.publish(POLICY_TOPIC, bad)

    reasons = [a["reason"].split(":")[0] for a in policy_acks(probe, 4)]
    assert reasons == ["not_newer", "unknown_key", "bad_signature", "wrong_audience"]
    refused = [r for r in audit_rows(agent) if r[0] == "refused" and r[1] == POLICY_TOPIC]
    assert [r[2] for r in refused] == reasons
    # still version 2's rules: none of the refused documents made games always allowed
    assert launch(agent, "games").reason == "not in the standard profile"
    assert "games" not in {t.id for t in agent.state().apps}


def test_apps_are_refused_and_audited_unless_allowed_signed_and_intact(
    make_agent: Callable[..., AgentProcess], probe: Probe, signer: TestSigner, clocks: Clocks,
) -> None:
    agent = start_at(make_agent, probe, signer, clocks, EVENING)
    apps: Path = agent.state_dir / "apps"
    ok = launch(agent, "education")
    assert ok.ok and ok.argv == (str((apps / "education" / "bin" / "run").resolve()),)

    (apps / "education" / "data.txt").write_text("changed after signing\n")
    (apps / "listener" / "bin" / "helper").write_bytes(b"\x7fELF unlisted")
    refusals = {
        "education": "file data.txt changed since it was signed",
        "listener": "unlisted file bin/helper",
        "games": "not in the standard profile",
        "casino": "not in the wing's app allow-list",
    }
    for app, reason in refusals.items():
        reply = launch(agent, app)
        assert (reply.ok, reply.reason, reply.argv) == (False, reason, ())
    audited = [r[3] for r in audit_rows(agent) if r[:3] == ("refused", "launch", "app_refused")]
    assert audited == [f"{app}: {reason}" for app, reason in refusals.items()]


def test_an_app_outside_its_hours_is_refused_until_they_start_and_follows_the_profile(
    make_agent: Callable[..., AgentProcess], probe: Probe, signer: TestSigner, clocks: Clocks,
) -> None:
    agent = start_at(make_agent, probe, signer, clocks, utc_ms("2026-11-11T16:00Z"))
    probe.publish("tablet/t1/desired", signer.seal(signer.desired("t1", 2, locked=False,
                                                                  profile="enhanced")))
    agent.wait_for(lambda s: s.profile == "enhanced")
    reply = launch(agent, "games")  # games: weekdays 17:00-21:00 for enhanced
    assert (reply.ok, reply.reason) == (False, "outside its hours")
    assert ("refused", "launch", "app_refused", "games: outside its hours") in audit_rows(agent)

    clocks.advance(3600)
    agent.wait_for(lambda s: any(t.id == "games" and t.allowed_now for t in s.apps))
    assert launch(agent, "games").ok

    clocks.advance(3 * 3600 + 47 * 60)  # 20:47: the shell is told when games will close
    warned = agent.wait_for(lambda s: any(t.id == "games" and t.closes_at for t in s.apps))
    assert {t.id: t.closes_at for t in warned.apps}["games"] == utc_ms("2026-11-11T21:00Z")
    clocks.advance(14 * 60)  # 21:01: closed
    agent.wait_for(lambda s: any(t.id == "games" and not t.allowed_now for t in s.apps))
    assert launch(agent, "games").reason == "outside its hours"

    probe.publish("tablet/t1/desired", signer.seal(signer.desired("t1", 3, locked=False,
                                                                  profile="basic")))
    state = agent.wait_for(lambda s: s.profile == "basic")
    assert "games" not in {t.id for t in state.apps}
    assert launch(agent, "games").reason == "not in the basic profile"


def test_an_always_allowed_app_runs_in_curfew_and_on_a_locked_tablet(
    make_agent: Callable[..., AgentProcess], probe: Probe, signer: TestSigner, clocks: Clocks,
) -> None:
    agent = start_at(make_agent, probe, signer, clocks, MIDNIGHT)
    assert launch(agent, "listener").ok
    reply = launch(agent, "education")
    assert (reply.ok, reply.reason) == (False, "curfew")
    assert ("refused", "launch", "app_refused", "education: curfew") in audit_rows(agent)

    probe.publish("tablet/t1/desired", signer.seal(signer.desired("t1", 2, locked=True)))
    locked = agent.wait_for(lambda s: s.locked)
    assert [t.id for t in locked.apps if t.allowed_now] == ["legal", "listener"]
    assert launch(agent, "listener").ok


def test_a_system_clock_set_days_ahead_does_not_stop_the_tablet_taking_gateway_time(
    make_agent: Callable[..., AgentProcess], probe: Probe, signer: TestSigner, clocks: Clocks,
) -> None:
    clocks.set_wall(MIDNIGHT + 3 * 86_400_000)
    agent = make_agent()
    agent.start()
    agent.wait_connected()
    probe.publish(POLICY_TOPIC, seal(policy(), signer.key))
    probe.publish(TIME_TOPIC, beacon(signer, MIDNIGHT), retain=False)
    state = agent.wait_for(lambda s: s.trusted_time is not None)
    assert state.curfew.state == "curfew"
    assert abs(state.trusted_time - MIDNIGHT) < 60_000


def test_a_gateway_time_that_corrects_the_clock_into_curfew_shows_the_curfew_at_once(
    make_agent: Callable[..., AgentProcess], probe: Probe, signer: TestSigner, clocks: Clocks,
) -> None:
    agent = start_at(make_agent, probe, signer, clocks, EVENING)
    assert agent.state().curfew.state == "open"

    probe.publish(TIME_TOPIC, beacon(signer, MIDNIGHT), retain=False)  # the gateway was right

    assert agent.wait_for(lambda s: s.curfew.state == "curfew").curfew.state == "curfew"


def test_a_replayed_older_time_is_refused(
    make_agent: Callable[..., AgentProcess], probe: Probe, signer: TestSigner, clocks: Clocks,
) -> None:
    agent = start_at(make_agent, probe, signer, clocks, MIDNIGHT)
    probe.publish(TIME_TOPIC, beacon(signer, EVENING), retain=False)  # six hours earlier
    agent.wait_for(lambda _s: any(r[:2] == ("refused", TIME_TOPIC) for r in audit_rows(agent)))
    state = agent.state()
    assert state.curfew.state == "curfew"
    assert state.trusted_time is not None and state.trusted_time >= MIDNIGHT


def test_a_system_clock_set_ahead_does_not_make_the_tablet_refuse_a_staff_lock(
    make_agent: Callable[..., AgentProcess], probe: Probe, signer: TestSigner, clocks: Clocks,
) -> None:
    issued = EVENING
    agent = start_at(make_agent, probe, signer, clocks, issued)
    clocks.move_wall(30 * 86_400)  # the tablet's system clock a month ahead: the lock has not
    lock = signer.desired("t1", 2, locked=True, issued=issued, expires=issued + 86_400_000)
    probe.publish("tablet/t1/desired", signer.seal(lock))

    state = agent.wait_for(lambda s: s.locked)
    assert (state.lock.source, state.lock.by) == ("device", lock.lock.by)


def test_a_system_clock_set_back_does_not_make_the_tablet_accept_an_expired_unlock(
    make_agent: Callable[..., AgentProcess], probe: Probe, signer: TestSigner, clocks: Clocks,
) -> None:
    agent = start_at(make_agent, probe, signer, clocks, EVENING)
    probe.publish("tablet/t1/desired", signer.seal(signer.desired(
        "t1", 2, locked=True, issued=EVENING, expires=EVENING + 86_400_000)))
    agent.wait_for(lambda s: s.locked)
    clocks.move_wall(-3 * 86_400)  # back to when an old unlock was still valid
    issued = EVENING - 2 * 86_400_000
    probe.publish("tablet/t1/desired", signer.seal(signer.desired(
        "t1", 3, locked=False, issued=issued, expires=issued + 86_400_000)))

    ack = json.loads(probe.expect(lambda m: m.topic == "tablet/t1/ack").payload)
    assert (ack["ref"], ack["state"]) == ("desired/3", "rejected")
    assert ack["reason"].startswith("expired: ")
    assert agent.state().locked


# -- issue 13, defect 1: a document is never judged expired by an untrusted clock ------------

DAY_MS = 86_400_000
MONTH_S = 30 * 86_400
DESIRED_TOPIC, LOCKDOWN_TOPIC, REPLY_TOPIC = "tablet/t1/desired", "wing/lockdown", "tablet/t1/reply"


def restarted_a_month_ahead(agent: AgentProcess, clocks: Clocks) -> AgentProcess:
    """Stop the agent, set its system clock 30 days ahead, start it: no gateway time yet."""
    agent.stop()
    clocks.move_wall(MONTH_S)
    agent.start()
    agent.wait_connected()
    return agent


def held(agent: AgentProcess, topic: str) -> bool:
    return any(r[:2] == ("held", topic) for r in audit_rows(agent))


def refusals(agent: AgentProcess) -> list[tuple[str, str, str, str]]:
    return [r for r in audit_rows(agent) if r[0] == "refused"]


def lock_from(signer: TestSigner, topic: str) -> bytes:
    if topic == DESIRED_TOPIC:
        return signer.seal(signer.desired("t1", 2, locked=True, reason="cell search",
                                          issued=EVENING, expires=EVENING + DAY_MS))
    return signer.seal(signer.lockdown(WING, 1, locked=True, reason="cell search",
                                       issued=EVENING, expires=EVENING + DAY_MS))


@pytest.mark.parametrize(("topic", "source"), [(DESIRED_TOPIC, "device"),
                                               (LOCKDOWN_TOPIC, "wing")])
def test_a_lock_sent_while_the_agent_was_stopped_is_not_lost_to_a_system_clock_set_ahead(
    make_agent: Callable[..., AgentProcess], probe: Probe, signer: TestSigner, clocks: Clocks,
    topic: str, source: str,
) -> None:
    """The lock (valid for a day) waits on the broker; the tablet comes back with its clock a
    month ahead. It must not refuse the lock as expired on that clock's word: it holds it and
    applies it as soon as the gateway's time says it is valid."""
    agent = start_at(make_agent, probe, signer, clocks, EVENING)
    agent.stop()
    probe.publish(topic, lock_from(signer, topic))  # retained: handed over at the next start
    restarted_a_month_ahead(agent, clocks)
    agent.wait_for(lambda _s: held(agent, topic))

    probe.publish(TIME_TOPIC, beacon(signer, EVENING + 60_000), retain=False)

    state = agent.wait_for(lambda s: s.locked)
    assert (state.lock.source, state.lock.reason) == (source, "cell search")
    assert refusals(agent) == []


def test_a_stored_lock_is_not_refused_on_its_redelivery_by_a_system_clock_set_ahead(
    make_agent: Callable[..., AgentProcess], probe: Probe, signer: TestSigner, clocks: Clocks,
) -> None:
    agent = start_at(make_agent, probe, signer, clocks, EVENING)
    probe.publish(DESIRED_TOPIC, lock_from(signer, DESIRED_TOPIC))
    agent.wait_for(lambda s: s.locked)
    restarted_a_month_ahead(agent, clocks)
    assert agent.state().locked  # the stored state holds

    probe.publish(TIME_TOPIC, beacon(signer, EVENING + 60_000), retain=False)

    assert agent.wait_for(lambda s: s.trusted_time is not None).locked
    assert refusals(agent) == []


def test_a_policy_sent_while_the_agent_was_stopped_is_applied_once_time_is_trusted(
    make_agent: Callable[..., AgentProcess], probe: Probe, signer: TestSigner, clocks: Clocks,
) -> None:
    agent = start_at(make_agent, probe, signer, clocks, EVENING)
    agent.stop()
    newer = policy(version=2, name="A wing: version 2", issued=EVENING, expires=EVENING + DAY_MS)
    probe.publish(POLICY_TOPIC, seal(newer, signer.key))
    restarted_a_month_ahead(agent, clocks)
    agent.wait_for(lambda _s: held(agent, POLICY_TOPIC))

    probe.publish(TIME_TOPIC, beacon(signer, EVENING + 60_000), retain=False)

    probe.expect(lambda m: m.topic == "tablet/t1/reported"
                 and reported_hash(m.payload) == policy_hash(newer))
    assert refusals(agent) == []


def test_staffs_reply_is_not_refused_by_a_system_clock_set_ahead(
    make_agent: Callable[..., AgentProcess], probe: Probe, signer: TestSigner, clocks: Clocks,
) -> None:
    agent = start_at(make_agent, probe, signer, clocks, EVENING)
    saved = submit(agent.socket_path, "visits", "Can my sister visit?")
    agent.wait_for(lambda s: bool(s.requests) and s.requests[0].status == "delivered")
    restarted_a_month_ahead(agent, clocks)
    reply = RequestReply(audience="device:t1", version=1, issued=EVENING,
                         expires=EVENING + 3_600_000, request=saved.id, text="Booked",
                         by="officer.k")
    probe.publish(REPLY_TOPIC, seal(reply, signer.key), retain=False)
    agent.wait_for(lambda _s: held(agent, REPLY_TOPIC))

    probe.publish(TIME_TOPIC, beacon(signer, EVENING + 60_000), retain=False)

    answered = agent.wait_for(lambda s: s.requests[0].status == "answered")
    assert answered.requests[0].reply == "Booked"
    assert refusals(agent) == []


def test_before_trusted_time_a_document_expired_by_the_last_known_time_is_still_refused(
    make_agent: Callable[..., AgentProcess], probe: Probe, signer: TestSigner, clocks: Clocks,
) -> None:
    """The last gateway time the tablet stored is a floor: a clock set back below it does not
    make an unlock that expired before it valid again."""
    agent = start_at(make_agent, probe, signer, clocks, EVENING)
    probe.publish(DESIRED_TOPIC, lock_from(signer, DESIRED_TOPIC))
    agent.wait_for(lambda s: s.locked)
    agent.stop()
    clocks.move_wall(-3 * 86_400)
    agent.start()
    agent.wait_connected()
    issued = EVENING - 2 * DAY_MS
    probe.publish(DESIRED_TOPIC, signer.seal(signer.desired(
        "t1", 3, locked=False, issued=issued, expires=issued + DAY_MS)))

    ack = json.loads(probe.expect(lambda m: m.topic == "tablet/t1/ack").payload)
    assert (ack["ref"], ack["state"]) == ("desired/3", "rejected")
    assert ack["reason"].startswith("expired: ")
    assert agent.state().locked
