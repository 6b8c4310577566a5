"""The agent against the real wing gateway: staff lock and unlock confirmed by the tablet's report.
(The lead's end-to-end suite covers the whole slice; this keeps the agent's side of the contract
honest as the gateway changes.)"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.lock import NOT_SET_UP
from tests.support.agents import AgentProcess, write_agent_config
from tests.support.broker import WingBroker
from tests.support.gateway import Gateway


@pytest.fixture
def gateway(broker: WingBroker, tmp_path: Path) -> Iterator[Gateway]:
    gw = Gateway(
        tmp_path / "gw",
        broker.host,
        broker.port,
        wing=broker.demo.wing if broker.secure else "A",
        tablets=[("t1", "1", "L1")],
        tls=broker.gateway_tls(),
    )
    gw.start()
    yield gw
    gw.close()


def tablet_config(broker: WingBroker, gateway: Gateway, tmp_path: Path, device: str) -> Path:
    return write_agent_config(
        tmp_path / device,
        device_id=device,
        wing=broker.demo.wing if broker.secure else "A",
        broker_host=broker.host,
        broker_port=broker.port,
        gateway_keys=[gateway.public_key_path],
        enrolment_bundle=broker.demo.bundle(device) if broker.secure else None,
    )


@pytest.fixture
def agent(broker: WingBroker, gateway: Gateway, tmp_path: Path) -> Iterator[AgentProcess]:
    process = AgentProcess(tablet_config(broker, gateway, tmp_path, "t1")).start()
    process.wait_connected()
    yield process
    process.kill()


def test_staff_lock_and_unlock_are_confirmed_by_the_tablet(
    gateway: Gateway, agent: AgentProcess
) -> None:
    locked = gateway.cli("lock", "--device", "t1", "--reason", "cell search", "--wait", "20")
    assert locked.returncode == 0, locked.stdout + locked.stderr
    state = agent.state()
    assert (state.locked, state.lock.reason) == (True, "cell search")

    unlocked = gateway.cli("unlock", "--device", "t1", "--reason", "search over", "--wait", "20")
    assert unlocked.returncode == 0, unlocked.stdout + unlocked.stderr
    assert agent.state().locked is False


def test_a_wing_lockdown_from_staff_locks_the_tablet(gateway: Gateway, agent: AgentProcess) -> None:
    result = gateway.cli("lock", "--wing", "--reason", "roll check", "--wait", "20")
    assert result.returncode == 0, result.stdout + result.stderr
    assert agent.state().lock.source == "wing"


def test_a_tablet_seeded_on_the_wing_comes_up_unlocked(agent: AgentProcess) -> None:
    state = agent.wait_for(lambda s: not s.locked)
    assert state.lock.source is None


def test_a_new_tablet_is_locked_until_registered_then_unlocked_by_its_first_desired_state(
    broker: WingBroker, gateway: Gateway, tmp_path: Path
) -> None:
    tablet = AgentProcess(tablet_config(broker, gateway, tmp_path, "t2")).start()
    try:
        assert tablet.wait_connected().lock == NOT_SET_UP
        gateway.register("t2", "2", "L1")
        state = tablet.wait_for(lambda s: not s.locked)
    finally:
        tablet.kill()
    assert state.lock.source is None


def lose_the_database(gateway: Gateway) -> None:
    """Restart the gateway with no state: a replacement host, or a restore from an old backup.
    Returns once the tablet's retained report told the new gateway where it stands."""
    gateway.stop()
    shutil.rmtree(gateway.state_dir)
    gateway.start()
    for _ in range(100):
        [row] = gateway.staff_json("status")["tablets"]
        if row["desired"]["reported_version"] is not None:
            return
        time.sleep(0.1)


def test_a_gateway_that_lost_its_database_can_still_lock_the_tablet(
    gateway: Gateway, agent: AgentProcess
) -> None:
    for action in ("lock", "unlock", "lock", "unlock"):  # the tablet holds desired version 5
        done = gateway.cli(action, "--device", "t1", "--reason", "routine", "--wait", "20")
        assert done.returncode == 0, done.stdout + done.stderr
    lose_the_database(gateway)

    result = gateway.cli("lock", "--device", "t1", "--reason", "after restore", "--wait", "20")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (agent.state().locked, agent.state().lock.reason) == (True, "after restore")


def test_a_gateway_that_lost_its_database_can_still_change_the_tablets_profile(
    gateway: Gateway, agent: AgentProcess
) -> None:
    for action in ("lock", "unlock"):  # the tablet holds desired version 3
        done = gateway.cli(action, "--device", "t1", "--reason", "routine", "--wait", "20")
        assert done.returncode == 0, done.stdout + done.stderr
    lose_the_database(gateway)

    result = gateway.cli("policy", "profile", "basic", "--device", "t1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert agent.wait_for(lambda s: s.profile == "basic").profile == "basic"


def test_a_gateway_that_lost_its_database_can_still_lock_down_the_wing(
    gateway: Gateway, agent: AgentProcess
) -> None:
    for action in ("lock", "unlock", "lock", "unlock"):  # the tablet holds lockdown version 4
        done = gateway.cli(action, "--wing", "--reason", "roll check", "--wait", "20")
        assert done.returncode == 0, done.stdout + done.stderr
    lose_the_database(gateway)

    result = gateway.cli("lock", "--wing", "--reason", "after restore", "--wait", "20")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (agent.state().lock.source, agent.state().lock.reason) == ("wing", "after restore")
