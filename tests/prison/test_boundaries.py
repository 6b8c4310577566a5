"""The prison broker's boundaries: only the prison CA's identities get in, and a wing can write
only under its own prefix, whether it goes through its bridge or holds the bridge's key."""

from __future__ import annotations

import asyncio
import contextlib

import aiomqtt
import pytest

from common.mqtt import BrokerConfig, make_client
from tests.prison.rig import PrisonRig
from wire.documents import LockView, ReportedState

FORGED = ReportedState(device="B-01", desired_version=9, lockdown_version=9,
                       lock=LockView(locked=False), profile="standard", at=1, boot_id="x",
                       agent_version="forged").model_dump_json().encode()


async def received(client: aiomqtt.Client, seconds: float) -> list[str]:
    topics: list[str] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            async for message in client.messages:
                topics.append(str(message.topic))
    return topics


async def test_a_tablet_or_a_wing_identity_cannot_connect_to_the_prison_broker(rig: PrisonRig):
    demo = rig.demos["A"]
    for tls in (demo.tablet_tls("A-01"), demo.gateway_tls(), demo.operator_tls()):
        with pytest.raises(aiomqtt.MqttError):
            async with make_client(rig.prison_address(tls), "intruder"):
                pass
    async with make_client(rig.prison_address(rig.service_tls()), "service@P"):
        pass  # the prison's own identity does get in: the refusals above are about identity


async def test_a_wing_cannot_publish_under_another_wings_prefix(rig: PrisonRig):
    async with make_client(rig.prison_address(rig.service_tls()), "service@P") as observer:
        await observer.subscribe("wing/#", qos=1)
        async with asyncio.timeout(20):  # wing A's bridge is up
            async for message in observer.messages:
                if str(message.topic) == "wing/A/link" and message.payload == b"1":
                    break
        # On wing A's broker, with full access: another wing's name is not bridged at all.
        async with make_client(_local(rig, "A"), "observer-1@A") as gateway_side:
            await gateway_side.publish("wing/B/tablet/B-01/reported", FORGED, qos=1)
            await gateway_side.publish("tablet/A-01/reported", FORGED, qos=1)
        # With the bridge's own key, straight at the prison broker: the ACL drops it.
        async with make_client(rig.prison_address(rig.bridge_tls("A")), "bridge@A") as rogue:
            await rogue.publish("wing/B/tablet/B-01/reported", FORGED, qos=1)
            await rogue.publish("wing/B/uplink/applied", b"{}", qos=1)
            await rogue.publish("wing/A/tablet/A-02/reported", FORGED, qos=1)
        topics = await received(observer, 3.0)
    assert "wing/A/tablet/A-01/reported" in topics  # bridged up, under A's own prefix
    assert "wing/A/tablet/A-02/reported" in topics  # the bridge identity may write its own
    # Of wing B, only what B's own bridge says (its link state): nothing A wrote in its name.
    assert {t for t in topics if t.startswith("wing/B/")} <= {"wing/B/link"}
    assert "wing/B/tablet/B-01/reported" not in topics


def _local(rig: PrisonRig, wing: str) -> BrokerConfig:
    broker = rig.brokers[wing]
    return BrokerConfig(host=broker.host, port=broker.port, tls=rig.demos[wing].operator_tls())
