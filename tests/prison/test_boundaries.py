"""The prison broker's boundaries: only the prison CA's identities get in, and a wing can write
only under its own prefix, whether it goes through its bridge or holds the bridge's key."""

from __future__ import annotations

import asyncio
import contextlib

import aiomqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cellbridge.fleet import wait_until
from common.mqtt import BrokerConfig, make_client
from tests.prison.rig import PrisonRig
from wire.documents import LockView, ReportedState
from wire.envelope import seal
from wire.prison import PRISON_COMMAND, PrisonLockdown, prison_audience

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


async def test_a_command_not_signed_by_the_prison_key_is_refused_and_audited(rig: PrisonRig):
    async with rig.running() as agents:
        gateway = rig.gateways["A"]
        now = gateway.clock()
        forged = PrisonLockdown(audience=prison_audience("P"), version=5, issued=now,
                                expires=now + 60_000, locked=True, by="intruder", reason="x")
        async with make_client(_local(rig, "A"), "observer-1@A") as client:
            await client.publish(PRISON_COMMAND, seal(forged, Ed25519PrivateKey.generate()),
                                 qos=1)
        assert rig.service is not None
        store = rig.service.store

        def refusals() -> list[str]:  # as the prison holds wing A's audit trail
            return [str(e.detail["reason"]) for e in store.audit_entries("A")
                    if e.action == "prison_refused"]

        await wait_until(lambda: bool(refusals()), 20)
        assert refusals() == ["unknown_key"]
        assert store.applied("A") is None  # nothing applied, no answer to a command never sent
        entries = await gateway.audit_entries(None)
        assert [e.detail["reason"] for e in entries if e.action == "prison_refused"] == [
            "unknown_key"]
        assert not any(a.state.locked for a in agents["A"])
