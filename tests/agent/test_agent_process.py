"""The agent as a process on a real broker: signed orders lock it, the lock outlives the process,
birth and last will tell the gateway whether it is there."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections.abc import Callable
from typing import Any

from agent.lock import NOT_SET_UP
from tests.support.agents import AgentProcess, Probe, Received, TestSigner, watching
from tests.support.broker import WingBroker

DESIRED = "tablet/t1/desired"


def reported(version: int, device: str = "t1") -> Callable[[Received], bool]:
    def match(message: Received) -> bool:
        return (
            message.topic == f"tablet/{device}/reported"
            and json.loads(message.payload)["desired_version"] == version
        )

    return match


def status(state: str, boot_id: str | None = None) -> Callable[[Received], bool]:
    def match(message: Received) -> bool:
        if message.topic != "tablet/t1/status":
            return False
        body = json.loads(message.payload)
        return bool(body["state"] == state and (boot_id is None or body["boot_id"] == boot_id))

    return match


def lock_t1(probe: Probe, signer: TestSigner, version: int, locked: bool, reason: str) -> Any:
    probe.publish(DESIRED, signer.seal(signer.desired("t1", version, locked=locked, reason=reason)))
    return json.loads(probe.expect(reported(version)).payload)


def set_up(probe: Probe, signer: TestSigner) -> Any:
    """What registering t1 at the gateway does: a first, unlocked desired state (version 1)."""
    probe.publish(DESIRED, signer.seal(signer.first("t1")))
    return json.loads(probe.expect(reported(1)).payload)


def test_a_new_agent_without_desired_state_is_locked_as_not_set_up(
    make_agent: Callable[..., AgentProcess],
) -> None:
    agent = make_agent().start()
    state = agent.wait_connected()
    assert (state.locked, state.lock.source, state.lock.reason) == (
        True,
        "failsafe",
        NOT_SET_UP.reason,
    )


def test_the_first_desired_state_from_the_wing_unlocks_a_new_agent(
    make_agent: Callable[..., AgentProcess], signer: TestSigner, probe: Probe
) -> None:
    agent = make_agent().start()
    agent.wait_connected()
    with watching(agent.socket_path) as shell:
        assert shell.next().locked is True
        report = set_up(probe, signer)
        state = shell.until(lambda s: not s.locked)
    assert report["lock"]["locked"] is False
    assert state.lock.source is None


def test_an_agent_whose_store_was_deleted_comes_back_locked(
    make_agent: Callable[..., AgentProcess], signer: TestSigner, probe: Probe, broker: WingBroker
) -> None:
    agent = make_agent().start()
    agent.wait_connected()
    set_up(probe, signer)
    assert agent.wait_for(lambda s: not s.locked).locked is False
    agent.kill()
    broker.kill()  # nothing left to hand the state back but the wing's gateway, later
    shutil.rmtree(agent.state_dir)

    agent.start()
    state = agent.state()
    assert (state.locked, state.lock.source, state.lock.reason) == (
        True,
        "failsafe",
        NOT_SET_UP.reason,
    )


def test_a_signed_lock_is_pushed_to_the_shell_and_reported(
    make_agent: Callable[..., AgentProcess], signer: TestSigner, probe: Probe
) -> None:
    agent = make_agent().start()
    agent.wait_connected()
    set_up(probe, signer)
    with watching(agent.socket_path) as shell:
        shell.until(lambda s: not s.locked)
        report = lock_t1(probe, signer, 2, True, "fight on the landing")
        pushed = shell.until(lambda s: s.locked)
    assert (pushed.lock.source, pushed.lock.reason) == ("device", "fight on the landing")
    assert report["lock"]["locked"] is True
    assert report["lock"]["reason"] == "fight on the landing"


def test_a_signed_unlock_unlocks(
    make_agent: Callable[..., AgentProcess], signer: TestSigner, probe: Probe
) -> None:
    agent = make_agent().start()
    agent.wait_connected()
    lock_t1(probe, signer, 1, True, "search")
    report = lock_t1(probe, signer, 2, False, "search over")
    assert report["lock"]["locked"] is False
    assert agent.state().locked is False


def test_the_lock_survives_a_killed_agent_even_without_the_broker(
    make_agent: Callable[..., AgentProcess], signer: TestSigner, probe: Probe, broker: WingBroker
) -> None:
    agent = make_agent().start()
    agent.wait_connected()
    lock_t1(probe, signer, 1, True, "assault")
    agent.kill()
    broker.kill()  # the broker's retained copy is gone too: only the tablet's store remembers

    agent.start()
    state = agent.state()
    assert (state.locked, state.lock.source, state.lock.reason) == (True, "device", "assault")
    assert state.connected is False


def test_a_restarted_agent_reports_its_stored_lock_on_reconnecting(
    make_agent: Callable[..., AgentProcess], signer: TestSigner, probe: Probe, broker: WingBroker
) -> None:
    agent = make_agent().start()
    agent.wait_connected()
    lock_t1(probe, signer, 1, True, "assault")
    agent.kill()
    agent.start()
    report = json.loads(probe.expect(reported(1)).payload)
    assert report["lock"]["locked"] is True


def test_wing_lockdown_combines_with_the_device_lock(
    make_agent: Callable[..., AgentProcess], signer: TestSigner, probe: Probe
) -> None:
    agent = make_agent().start()
    agent.wait_connected()
    lock_t1(probe, signer, 1, True, "cell search")
    probe.publish(
        "wing/lockdown", signer.seal(signer.lockdown("w1", 1, locked=True, reason="roll"))
    )
    agent.wait_for(lambda s: s.lock.source == "wing")
    lock_t1(probe, signer, 2, False, "search over")
    assert agent.state().locked is True  # the wing still says so

    probe.publish("wing/lockdown", signer.seal(signer.lockdown("w1", 2, locked=False)))
    state = agent.wait_for(lambda s: not s.locked)
    assert state.lock.source is None


def test_a_wing_lockdown_is_reported_with_its_version(
    make_agent: Callable[..., AgentProcess], signer: TestSigner, probe: Probe
) -> None:
    agent = make_agent().start()
    agent.wait_connected()
    set_up(probe, signer)
    probe.publish("wing/lockdown", signer.seal(signer.lockdown("w1", 7, locked=True)))
    message = probe.expect(
        lambda m: m.topic == "tablet/t1/reported" and json.loads(m.payload)["lockdown_version"] == 7
    )
    assert json.loads(message.payload)["lock"]["source"] == "wing"


def test_birth_is_published_retained_and_a_killed_agent_leaves_its_will(
    make_agent: Callable[..., AgentProcess], probe: Probe
) -> None:
    agent = make_agent().start()
    birth = json.loads(probe.expect(status("online")).payload)
    agent.kill()
    will = json.loads(probe.expect(status("offline", birth["boot_id"])).payload)
    assert will["boot_id"] == birth["boot_id"]


def test_each_run_announces_itself_with_a_new_boot_id(
    make_agent: Callable[..., AgentProcess], probe: Probe
) -> None:
    agent = make_agent().start()
    first = json.loads(probe.expect(status("online")).payload)["boot_id"]
    agent.kill()
    agent.start()
    second = json.loads(probe.expect(status("online")).payload)["boot_id"]
    assert first != second


def test_the_retained_status_tells_a_late_subscriber_the_agent_is_online(
    make_agent: Callable[..., AgentProcess], broker: WingBroker
) -> None:
    make_agent().start().wait_connected()
    late = Probe(broker.host, broker.port, ["tablet/t1/status"], tls=broker.observer_tls(2))
    try:
        message = late.expect(lambda m: True)
    finally:
        late.close()
    assert message.retain and json.loads(message.payload)["state"] == "online"


def test_sigterm_stops_the_agent_cleanly_and_says_it_is_offline(
    make_agent: Callable[..., AgentProcess], probe: Probe
) -> None:
    agent = make_agent().start()
    agent.wait_connected()
    assert agent.stop() == 0
    probe.expect(status("offline"))
    assert not agent.socket_path.exists()


def test_a_corrupt_store_fails_closed(
    make_agent: Callable[..., AgentProcess], signer: TestSigner, probe: Probe
) -> None:
    agent = make_agent()
    agent.state_dir.mkdir(parents=True)
    (agent.state_dir / "state.db").write_bytes(b"\x00garbage\xff" * 4096)
    agent.start()
    state = agent.wait_connected()
    assert (state.locked, state.lock.source) == (True, "failsafe")

    probe.publish(DESIRED, signer.seal(signer.desired("t1", 1, locked=False)))
    ack = json.loads(probe.expect(lambda m: m.topic == "tablet/t1/ack").payload)
    assert (ack["ref"], ack["state"]) == ("desired/?", "rejected")
    assert ack["reason"].startswith("store_unavailable")
    assert agent.state().locked is True


def test_applied_documents_are_audited_in_the_store(
    make_agent: Callable[..., AgentProcess], signer: TestSigner, probe: Probe
) -> None:
    agent = make_agent().start()
    agent.wait_connected()
    lock_t1(probe, signer, 1, True, "search")
    with sqlite3.connect(f"file:{agent.state_dir / 'state.db'}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT event, topic, detail FROM audit").fetchall()
    assert rows == [("applied", DESIRED, "version 1")]


def test_after_a_broker_restart_the_agent_announces_itself_again(
    make_agent: Callable[..., AgentProcess], signer: TestSigner, probe: Probe, broker: WingBroker
) -> None:
    agent = make_agent().start()
    boot_id = json.loads(probe.expect(status("online")).payload)["boot_id"]
    lock_t1(probe, signer, 1, True, "search")
    probe.close()
    broker.kill()  # sessions and retained messages since the last autosave are gone
    broker.start()
    again = Probe(
        broker.host,
        broker.port,
        ["tablet/t1/status", "tablet/t1/reported"],
        tls=broker.observer_tls(2),
    )
    try:
        again.expect(status("online", boot_id), timeout=30)
        report = json.loads(again.expect(reported(1), timeout=30).payload)
    finally:
        again.close()
    assert report["lock"]["locked"] is True
    agent.wait_connected()
    # Its subscriptions were lost with the broker's sessions: it must have made them again.
    late = Probe(broker.host, broker.port, ["tablet/t1/reported"], tls=broker.observer_tls(3))
    try:
        late.publish(DESIRED, signer.seal(signer.desired("t1", 2, locked=False)))
        assert json.loads(late.expect(reported(2)).payload)["lock"]["locked"] is False
    finally:
        late.close()
