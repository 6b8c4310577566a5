"""The gateway's link to its broker, told truthfully (issue 13, defects 10 and 11).

A client that connects with the gateway's own identity pushes the gateway's session off the
broker (MQTT 5 reason 0x8E, "session taken over"): the gateway audits it as a security event,
raises an alarm in `staff status`, and stays away for longer before taking its identity back,
rather than throwing the intruder off and being thrown off in a loop.

While the gateway has no broker session it cannot know which tablet is online: `staff status`
says the broker is disconnected and since when, and shows each tablet's last-seen time with its
presence unknown, never a stale `online`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time

import aiomqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from common import mqtt
from gateway.broker_link import SAME_BROKER_MS, BrokerLink
from tests.support.broker import WingBroker
from tests.support.gateway import Gateway


async def status_json(gateway: Gateway) -> dict:
    result = await gateway.acli("status", "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def eventually(check, timeout: float = 15.0):
    """The first truthy value of `check()` (an async callable), polled until `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.2)


# -- a takeover, on the real broker ------------------------------------------------------------


async def test_a_client_with_the_gateways_identity_is_seen_audited_and_alarmed(
    broker: WingBroker, gateway: Gateway
) -> None:
    """Mosquitto 2.0.11 closes the taken-over connection without naming the reason: the gateway
    infers it (the broker stayed up, its uptime says), audits and alarms, then stays away."""
    # The gateway has heard the broker's uptime, and the broker has been up long enough that a
    # drop now cannot be mistaken for a restart (SAME_BROKER_MS).
    await asyncio.sleep(SAME_BROKER_MS / 1000 + 2)
    intruder = aiomqtt.Client(broker.host, broker.port, identifier="anything",
                              protocol=aiomqtt.ProtocolVersion.V5,
                              tls_context=broker.context(broker.gateway_tls()), timeout=10)
    with contextlib.suppress(aiomqtt.MqttError):
        async with intruder:
            await asyncio.sleep(0.5)

    async def alarmed() -> dict | None:
        status = await status_json(gateway)
        return status if status["broker"]["alarms"] else None

    status = await eventually(alarmed)
    assert status, "no alarm in staff status after a takeover"
    assert status["broker"]["takeovers"] == 1
    assert "session_taken_over" in status["broker"]["alarms"][0]
    text = (await gateway.acli("status")).stdout
    assert text.startswith("ALARM session_taken_over")
    [entry] = [e for e in gateway.staff_json("audit")["entries"]
               if e["action"] == "session_taken_over"]
    assert entry["actor"] == "system" and entry["detail"]["in_a_row"] == 1
    # No fight: after a takeover the gateway stays away for 5 s or more before it reconnects.
    assert await asyncio.to_thread(_wait_connected, gateway, 20.0)
    status = await status_json(gateway)
    assert status["broker"]["connected"] is True and status["broker"]["takeovers"] == 1
    away_ms = status["broker"]["connected_since"] - status["broker"]["last_takeover"]
    assert away_ms >= mqtt.TAKEOVER_BACKOFF_S * 1000


def _wait_connected(gateway: Gateway, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if gateway.broker_connected():
            return True
        time.sleep(0.2)
    return False


# -- the reconnect rule, alone -------------------------------------------------------------------


def taken_over() -> aiomqtt.MqttError:
    """What aiomqtt raises from `client.messages` when the broker sends DISCONNECT 0x8E."""
    cause = aiomqtt.MqttCodeError(ReasonCode(PacketTypes.DISCONNECT, identifier=0x8E),
                                  "Unexpected disconnection")
    try:
        raise aiomqtt.MqttError("Disconnected during message iteration") from cause
    except aiomqtt.MqttError as error:
        return error


def test_a_takeover_is_told_apart_from_other_disconnects() -> None:
    assert mqtt.was_taken_over(taken_over())
    assert not mqtt.was_taken_over(aiomqtt.MqttError("Disconnected during message iteration"))
    other = aiomqtt.MqttCodeError(ReasonCode(PacketTypes.DISCONNECT, identifier=0x8D), "keepalive")
    assert not mqtt.was_taken_over(other)


def test_each_takeover_in_a_row_doubles_the_wait_up_to_a_ceiling() -> None:
    waits = [mqtt.takeover_backoff_s(n, 5.0) for n in range(1, 10)]
    assert waits[:4] == [5.0, 10.0, 20.0, 40.0]
    assert waits[-1] == mqtt.TAKEOVER_BACKOFF_MAX_S
    assert all(a <= b for a, b in itertools.pairwise(waits))


async def test_reconnecting_after_takeovers_reports_each_and_backs_off_for_longer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    slept: list[float] = []
    told: list[int] = []
    real_sleep = asyncio.sleep

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(mqtt.asyncio, "sleep", sleep)
    monkeypatch.setattr(mqtt.random, "uniform", lambda _a, _b: 0.0)

    async def session() -> None:
        if len(told) == 3:
            raise asyncio.CancelledError
        raise taken_over()

    async def on_taken_over(in_a_row: int) -> None:
        told.append(in_a_row)

    with pytest.raises(asyncio.CancelledError):
        await mqtt.run_reconnecting(session, on_taken_over=on_taken_over, takeover_base_s=5.0)
    assert told == [1, 2, 3]
    assert slept == [5.0, 10.0, 20.0]


# -- status while the broker is down -------------------------------------------------------------


async def test_status_while_the_broker_is_down_says_so_and_shows_presence_as_unknown(
    broker: WingBroker, gateway: Gateway, peer
) -> None:
    async with peer("T1") as tablet:
        await tablet.birth()
        await tablet.report()

        async def t1_online() -> bool:
            return (await status_json(gateway))["tablets"][0]["online"] is True

        assert await eventually(t1_online)
    before = await status_json(gateway)
    assert before["broker"]["connected"] is True
    assert before["broker"]["disconnected_since"] is None
    killed_at = int(time.time() * 1000)
    broker.kill()

    async def down() -> dict | None:
        status = await status_json(gateway)
        return None if status["broker"]["connected"] else status

    status = await eventually(down)
    assert status, "staff status still claims a broker session after the broker was killed"
    assert status["broker"]["disconnected_since"] >= killed_at - 1000
    assert [t["online"] for t in status["tablets"]] == [None, None, None]
    assert status["tablets"][0]["last_seen"] is not None
    text = (await gateway.acli("status")).stdout
    assert text.startswith("BROKER DISCONNECTED since")
    lines = text.splitlines()
    header, *rows = lines[next(i for i, line in enumerate(lines) if line.startswith("TABLET")):]
    assert header.split()[3] == "ONLINE"
    assert [row.split()[3] for row in rows] == ["unknown"] * 3

    broker.start()
    assert await asyncio.to_thread(_wait_connected, gateway, 20.0)
    assert (await status_json(gateway))["broker"]["connected"] is True


# -- the inference on a broker that does not name the takeover (Mosquitto < 2.0.15) --------------

BROKER_START = 1_000_000_000


def uptime_at(now: int, started: int = BROKER_START) -> bytes:
    return f"{(now - started) // 1000} seconds".encode()


def test_a_drop_while_the_same_broker_stayed_up_is_a_takeover() -> None:
    link = BrokerLink()
    assert not link.uptime(uptime_at(BROKER_START + 600_000), BROKER_START + 600_000)
    link.dropped(BROKER_START + 601_000)
    assert link.uptime(uptime_at(BROKER_START + 602_000), BROKER_START + 602_000)


def test_a_drop_across_a_broker_restart_is_not_a_takeover() -> None:
    link = BrokerLink()
    link.uptime(uptime_at(BROKER_START + 600_000), BROKER_START + 600_000)
    link.dropped(BROKER_START + 601_000)
    restarted = BROKER_START + 603_000
    assert not link.uptime(uptime_at(restarted + 1_000, restarted), restarted + 1_000)


def test_a_quick_restart_of_a_young_broker_is_not_a_takeover() -> None:
    link = BrokerLink()
    link.uptime(uptime_at(BROKER_START + 2_000), BROKER_START + 2_000)
    link.dropped(BROKER_START + 3_000)
    restarted = BROKER_START + 3_500
    assert not link.uptime(uptime_at(restarted + 2_000, restarted), restarted + 2_000)


def test_without_an_earlier_uptime_or_a_drop_nothing_is_inferred() -> None:
    fresh = BrokerLink()
    fresh.dropped(BROKER_START + 601_000)
    assert not fresh.uptime(uptime_at(BROKER_START + 602_000), BROKER_START + 602_000)
    steady = BrokerLink()
    for at in (600_000, 602_000, 604_000):
        assert not steady.uptime(uptime_at(BROKER_START + at), BROKER_START + at)
    assert not steady.uptime(b"garbage", BROKER_START + 606_000)
