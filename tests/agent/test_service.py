"""`agent.service.Agent` embedded in a process: several per event loop, a clock seam, the signed
time beacon, clean cancellation (real broker, in-process agents)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from agent.config import AgentConfig
from agent.service import Agent
from agent.store import Store
from tests.support.agents import (
    DAY_MS,
    TestSigner,
    agent_config,
    now_ms,
    running_agents,
    wait_until,
)
from tests.support.broker import WingBroker


def config(tmp_path: Path, broker: WingBroker, key: Path, device: str) -> AgentConfig:
    return agent_config(
        tmp_path,
        device_id=device,
        wing="w1",
        broker_host=broker.host,
        broker_port=broker.port,
        gateway_keys=[key],
        backoff_max_s=1.0,
        tls=broker.tablet_tls(device),
    )


running = running_agents
until = wait_until


async def set_up(gateway: aiomqtt.Client, signer: TestSigner, devices: list[str]) -> None:
    """Register the tablets, as the gateway does: a retained first desired state (version 1)
    for each, which unlocks it."""
    for device in devices:
        await gateway.publish(
            f"tablet/{device}/desired", signer.seal(signer.first(device)), qos=1, retain=True
        )


@pytest.fixture
async def gateway(broker: WingBroker) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(
        broker.host,
        broker.port,
        protocol=aiomqtt.ProtocolVersion.V5,
        tls_context=broker.context(broker.gateway_tls()),
    ) as c:
        yield c


@pytest.fixture
def key(signer: TestSigner, tmp_path: Path) -> Path:
    return signer.write_public_key(tmp_path / "gateway.pem")


async def test_several_agents_share_one_event_loop(
    tmp_path: Path, broker: WingBroker, key: Path, signer: TestSigner, gateway: aiomqtt.Client
) -> None:
    agents = [Agent(config(tmp_path, broker, key, f"t{n}")) for n in range(3)]
    await set_up(gateway, signer, [f"t{n}" for n in range(3)])
    async with running(*agents):
        await until(lambda: not any(a.state.locked for a in agents))
        await gateway.publish(
            "tablet/t1/desired", signer.seal(signer.desired("t1", 2, locked=True)), qos=1
        )
        await until(lambda: agents[1].state.locked)
        assert [a.state.locked for a in agents] == [False, True, False]

        await gateway.publish(
            "wing/lockdown", signer.seal(signer.lockdown("w1", 1, locked=True)), qos=1
        )
        await until(lambda: all(a.state.locked for a in agents))


async def test_cancelling_run_stops_the_agent_cleanly(
    tmp_path: Path, broker: WingBroker, key: Path, gateway: aiomqtt.Client
) -> None:
    await gateway.subscribe("tablet/t0/status", qos=1)
    agent = Agent(config(tmp_path, broker, key, "t0"))
    async with running(agent) as tasks:
        pass
    assert tasks[0].cancelled()
    assert not agent.config.socket.exists()
    states = []
    async with asyncio.timeout(10):
        async for message in gateway.messages:
            states.append(json.loads(message.payload)["state"])  # type: ignore[arg-type]
            if states[-1] == "offline":
                break
    assert states[-2:] == ["online", "offline"]


async def test_a_verified_time_beacon_is_kept_and_a_forged_one_refused(
    tmp_path: Path, broker: WingBroker, key: Path, signer: TestSigner, gateway: aiomqtt.Client
) -> None:
    agent = Agent(config(tmp_path, broker, key, "t0"))
    beacon = signer.time("w1")
    async with running(agent):
        await gateway.publish("wing/time", signer.seal(beacon), qos=1)
        await until(lambda: agent.last_signed_time == beacon)
        await gateway.publish("wing/time", TestSigner().seal(signer.time("w1")), qos=1)
        await gateway.publish(
            "wing/time", signer.seal(signer.time("w1", issued=beacon.issued - 1)), qos=1
        )  # older: not newer
        store = Store(agent.config.store_path)
        await until(lambda: len(store.audit_rows()) == 2)
        assert [(r.topic, r.reason) for r in store.audit_rows()] == [
            ("wing/time", "unknown_key"),
            ("wing/time", "not_newer"),
        ]
        store.close()
    assert agent.last_signed_time == beacon


async def test_time_beacons_are_stored_at_most_every_few_minutes_but_each_one_counts(
    tmp_path: Path, broker: WingBroker, key: Path, signer: TestSigner, gateway: aiomqtt.Client
) -> None:
    agent = Agent(config(tmp_path, broker, key, "t0"))
    first = now_ms() - 10 * 60_000
    beacons = [signer.time("w1", issued=first + n * 30_000) for n in range(12)]  # 5.5 minutes
    async with running(agent):
        for beacon in beacons:
            await gateway.publish("wing/time", signer.seal(beacon), qos=1)
        await until(lambda: agent.last_signed_time == beacons[-1])
        store = Store(agent.config.store_path)
        stored = store.applied()["time"].version
        store.close()
    assert agent.trusted_clock.floor_ms() >= beacons[-1].issued
    assert stored == beacons[10].version  # the first, then the first 5 minutes newer


async def test_after_a_restart_the_stored_time_is_a_floor_and_older_beacons_are_refused(
    tmp_path: Path, broker: WingBroker, key: Path, signer: TestSigner, gateway: aiomqtt.Client
) -> None:
    first = now_ms() - 60_000
    agent = Agent(config(tmp_path, broker, key, "t0"))
    later = signer.time("w1", issued=first + 30_000)
    async with running(agent):
        await gateway.publish("wing/time", signer.seal(signer.time("w1", issued=first)), qos=1)
        await gateway.publish("wing/time", signer.seal(later), qos=1)
        await until(lambda: agent.last_signed_time == later)
    again = Agent(config(tmp_path, broker, key, "t0"))
    async with running(again):
        assert again.trusted_clock.floor_ms() == first
        await gateway.publish("wing/time", signer.seal(signer.time("w1", issued=first - 1)),
                              qos=1)
        store = Store(again.config.store_path)
        await until(lambda: len(store.audit_rows()) == 1)
        assert [r.reason for r in store.audit_rows()] == ["not_newer"]
        store.close()


async def test_expiry_is_judged_by_trusted_time_never_by_the_system_clock_alone(
    tmp_path: Path, broker: WingBroker, key: Path, signer: TestSigner, gateway: aiomqtt.Client
) -> None:
    """Before the first gateway time the injected system clock (two days ahead) may not refuse a
    document as expired: it is held, and judged by the trusted time once that arrives."""
    now = now_ms()
    two_days_on = now + 2 * DAY_MS
    agent = Agent(config(tmp_path, broker, key, "t0"), clock=lambda: two_days_on)
    valid = signer.desired("t0", 1, locked=False)
    expired = signer.lockdown("w1", 1, locked=False, issued=now - DAY_MS, expires=now - 60_000)
    await gateway.subscribe("tablet/t0/ack", qos=1)
    async with running(agent):
        await gateway.publish("tablet/t0/desired", signer.seal(valid), qos=1)
        await gateway.publish("wing/lockdown", signer.seal(expired), qos=1)
        store = Store(agent.config.store_path)
        await until(lambda: [r.event for r in store.audit_rows()] == ["held", "held"])
        store.close()
        assert agent.desired is None

        await gateway.publish("wing/time", signer.seal(signer.time("w1")), qos=1)

        async with asyncio.timeout(10):
            message = await anext(aiter(gateway.messages))
        await until(lambda: agent.desired == valid)
    ack = json.loads(message.payload)  # type: ignore[arg-type]
    assert (ack["ref"], ack["reason"].split(":")[0]) == ("lockdown/1", "expired")
    assert agent.lockdown is None


async def test_a_loop_that_fails_ends_the_agent_and_closes_its_socket(
    tmp_path: Path, broker: WingBroker, key: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The curfew's clock (the policy loop) runs in the agent's TaskGroup: if it dies, the
    agent stops with its error (the shell sees no socket: locked; systemd restarts it)."""
    agent = Agent(config(tmp_path, broker, key, "t0"))

    def broken() -> float:
        raise RuntimeError("the curfew clock broke")

    monkeypatch.setattr(agent.policy, "sleep_s", broken)
    with pytest.raises(ExceptionGroup) as failed:
        async with asyncio.timeout(20):
            await agent.run()
    assert failed.group_contains(RuntimeError, match="the curfew clock broke")
    assert agent.ready.is_set()
    assert not agent.config.socket.exists()


async def test_an_agent_with_an_unreachable_broker_serves_its_stored_state(
    tmp_path: Path, broker: WingBroker, key: Path, signer: TestSigner, gateway: aiomqtt.Client
) -> None:
    agent = Agent(config(tmp_path, broker, key, "t0"))
    async with running(agent):
        await gateway.publish(
            "tablet/t0/desired", signer.seal(signer.desired("t0", 1, locked=True)), qos=1
        )
        await until(lambda: agent.state.lock.source == "device")
    broker.kill()
    again = Agent(config(tmp_path, broker, key, "t0"))
    task = asyncio.create_task(again.run())
    try:
        await until(lambda: again.state.lock.source == "device")
        assert again.state.connected is False
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_one_lockdown_publish_reaches_and_is_reported_by_a_wing_of_50(
    tmp_path: Path, broker: WingBroker, key: Path, signer: TestSigner, gateway: aiomqtt.Client
) -> None:
    agents = [Agent(config(tmp_path, broker, key, f"t{n}")) for n in range(50)]
    await set_up(gateway, signer, [f"t{n}" for n in range(50)])
    await gateway.subscribe("tablet/+/reported", qos=1)
    async with running(*agents):
        await until(lambda: not any(a.state.locked for a in agents))
        await gateway.publish(
            "wing/lockdown", signer.seal(signer.lockdown("w1", 1, locked=True)), qos=1, retain=True
        )
        reported: set[str] = set()
        async with asyncio.timeout(30):
            async for message in gateway.messages:
                body = json.loads(message.payload)  # type: ignore[arg-type]
                if body["lockdown_version"] == 1 and body["lock"]["locked"]:
                    reported.add(body["device"])
                    if len(reported) == 50:
                        break
    assert reported == {f"t{n}" for n in range(50)}
    assert all(agent.state.lock.source == "wing" for agent in agents)


async def test_any_error_computing_the_state_shows_the_shell_the_lock(
    tmp_path: Path, broker: WingBroker, key: Path, signer: TestSigner, gateway: aiomqtt.Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    agent = Agent(config(tmp_path, broker, key, "t0"))
    await set_up(gateway, signer, ["t0"])
    async with running(agent):
        await until(lambda: not agent.state.locked)

        def broken(*_args: object, **_kwargs: object) -> None:
            raise RuntimeError("policy engine bug")

        monkeypatch.setattr(agent.policy, "view", broken)
        await gateway.publish(
            "tablet/t0/desired", signer.seal(signer.desired("t0", 2, locked=False)), qos=1
        )
        await until(lambda: agent.state.locked)
        assert agent.state.lock.source == "failsafe"
