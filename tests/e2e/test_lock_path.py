"""The lock path end to end (docs/architecture.md), over mutual TLS: staff CLI → gateway → broker → agent
process → reported → gateway → staff CLI, and what happens when parts die on the way."""

from __future__ import annotations

import json


def test_staff_lock_returns_once_the_tablet_confirms_and_the_tablet_is_locked(make_wing):
    wing = make_wing(2)
    (agent,) = wing.start_agents("T-0001")

    result = wing.staff("lock", "--device", "T-0001", "--reason", "Cell search", "--wait", "15")

    assert result.returncode == 0, result.stderr
    state = agent.state()
    assert state.locked and state.lock.source == "device"
    assert state.lock.reason == "Cell search"


def test_staff_unlock_returns_once_the_tablet_confirms_and_the_tablet_is_unlocked(make_wing):
    wing = make_wing(1)
    (agent,) = wing.start_agents("T-0001")
    assert wing.staff("lock", "--device", "T-0001", "--reason", "x", "--wait", "15").returncode == 0

    result = wing.staff("unlock", "--device", "T-0001", "--reason", "All clear", "--wait", "15")

    assert result.returncode == 0, result.stderr
    assert agent.state().locked is False


def test_a_wing_lockdown_is_reported_by_fifty_agent_processes(make_wing):
    wing = make_wing(50)
    agents = wing.start_agents(*wing.local.tablets)

    result = wing.staff("lock", "--wing", "--reason", "Wing lockdown", "--wait", "60")

    assert result.returncode == 0, result.stderr
    status = json.loads(wing.staff("status", "--json").stdout)["tablets"]
    assert len(status) == 50
    assert all(tablet["locked"] and tablet["lock"]["source"] == "wing" for tablet in status)
    assert all(agent.state().locked for agent in agents)


def test_staff_lock_wait_names_the_tablet_that_never_answers(make_wing):
    wing = make_wing(2)
    wing.start_agents("T-0001")

    result = wing.staff("lock", "--device", "T-0001", "--device", "T-0002",
                        "--reason", "Search", "--wait", "3")

    assert result.returncode == 1
    assert "T-0002" in result.stderr
    assert "T-0001" not in result.stderr.replace("T-0002", "")


def test_the_lock_survives_an_agent_crash_and_restart(make_wing):
    wing = make_wing(1)
    (agent,) = wing.start_agents("T-0001")
    assert wing.staff("lock", "--device", "T-0001", "--reason", "Search", "--wait", "15").returncode == 0

    agent.kill()
    agent.start()

    state = agent.wait_connected()
    assert state.locked and state.lock.reason == "Search"


def test_the_lock_survives_a_broker_restart(make_wing):
    wing = make_wing(1)
    (agent,) = wing.start_agents("T-0001")
    assert wing.staff("lock", "--device", "T-0001", "--reason", "Search", "--wait", "15").returncode == 0

    wing.broker.stop()
    assert agent.wait_for(lambda s: not s.connected).locked
    wing.broker.start()

    assert agent.wait_connected(timeout=60).locked
    result = wing.staff("unlock", "--device", "T-0001", "--reason", "Done", "--wait", "30")
    assert result.returncode == 0, result.stderr


def test_a_tablet_offline_when_locked_is_locked_once_it_reconnects(make_wing):
    wing = make_wing(1)
    (agent,) = wing.start_agents("T-0001")
    agent.stop()

    result = wing.staff("lock", "--device", "T-0001", "--reason", "Search", "--wait", "2")
    assert result.returncode == 1 and "T-0001" in result.stderr

    agent.start()
    state = agent.wait_for(lambda s: s.connected and s.locked, timeout=30)
    assert state.lock.reason == "Search"


def test_after_a_broker_sigkill_loses_the_retained_lock_the_gateway_sends_it_again(make_wing):
    wing = make_wing(1)
    (agent,) = wing.start_agents("T-0001")
    agent.stop()
    assert wing.staff("lock", "--device", "T-0001", "--reason", "Search", "--wait", "1").returncode == 1

    # Killed before its autosave: the broker forgets the retained lock and the tablet's session.
    wing.broker.kill()
    wing.broker.start()
    agent.start()

    state = agent.wait_for(lambda s: s.connected and s.locked, timeout=60)
    assert state.lock.reason == "Search"
