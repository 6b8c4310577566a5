"""Whatever a tablet (or anything with broker access) sends, the gateway audits what is wrong
and keeps serving: a good report right after a bad one is still recorded and confirms a lock."""

from __future__ import annotations

import json

import aiomqtt
import pytest

from wire.documents import Ack
from wire.topics import TabletChannel

# A hang is a failure, reported well before the suite's own limit.
pytestmark = pytest.mark.timeout(90)

VALID_STATUS = b'{"state":"online","boot_id":"b","at":1}'


def audit_of(gateway, action: str) -> list[dict]:
    entries = gateway.staff_json("audit")["entries"]
    return [e for e in entries if e["action"] == action]


BAD = [
    pytest.param(TabletChannel.REPORTED, b"{not json", "malformed", id="reported-not-json"),
    pytest.param(TabletChannel.REPORTED, b'{"device":"T1"}', "malformed", id="reported-missing"),
    pytest.param(TabletChannel.REPORTED, b"x" * 20_000, "over_size_cap", id="reported-oversize"),
    pytest.param(TabletChannel.STATUS, b'{"state":"dancing","boot_id":"b","at":1}', "malformed",
                 id="status-bad-state"),
    pytest.param(TabletChannel.STATUS, b"", "malformed", id="status-empty"),
    pytest.param(TabletChannel.ACK, b"[]", "malformed", id="ack-not-object"),
    pytest.param(TabletChannel.TELEMETRY, b"\xff\xfe", "malformed", id="telemetry-binary"),
    pytest.param(TabletChannel.TELEMETRY, b"[" * 4000, "malformed", id="telemetry-deeply-nested"),
    pytest.param(TabletChannel.TELEMETRY, b"{" + b" " * 5000 + b"}", "over_size_cap",
                 id="telemetry-oversize"),
]


@pytest.mark.parametrize(("channel", "payload", "reason"), BAD)
async def test_a_bad_message_is_audited_and_the_gateway_keeps_serving(
    gateway, peer, channel, payload, reason
):
    async with peer("T1") as tablet:
        await tablet.publish(channel, payload)
        result = await gateway.acli("lock", "--device", "T1", "--reason", "x", "--wait", "20")
        assert result.returncode == 0, result.stderr
    [entry] = audit_of(gateway, "invalid_message")
    assert entry["actor"] == "tablet:T1"
    assert entry["detail"]["channel"] == channel.value
    assert entry["detail"]["reason"].startswith(reason)


async def test_a_report_naming_another_tablet_is_refused_as_mis_addressed(gateway, peer):
    # T1 never answers, so the only report the gateway could hold for it is the forged one.
    async with peer("T1", answer=False) as t1, peer("T2", answer=False) as t2:
        await t1.birth()
        # T2's connection publishes a report claiming to be T1 on T2's topic.
        forged = (b'{"device":"T1","desired_version":99,"lockdown_version":99,'
                  b'"lock":{"locked":false},"profile":"standard","at":1,"boot_id":"b",'
                  b'"agent_version":"x"}')
        await t2.publish(TabletChannel.REPORTED, forged)
        status = await gateway.acli("status", "--json")
    [entry] = audit_of(gateway, "invalid_message")
    assert "mis-addressed" in entry["detail"]["reason"]
    t1 = json.loads(status.stdout)["tablets"][0]
    assert t1["desired"]["reported_version"] is None


async def test_a_flood_of_bad_messages_is_audited_once_per_window_with_a_count(gateway, peer):
    async with peer("T1") as tablet:
        for _ in range(50):
            await tablet.publish(TabletChannel.REPORTED, b"{garbage")
        result = await gateway.acli("lock", "--device", "T1", "--reason", "x", "--wait", "20")
        assert result.returncode == 0
    assert len(audit_of(gateway, "invalid_message")) == 1


async def test_messages_from_an_unregistered_tablet_are_ignored_and_audited_once(gateway, peer):
    async with peer("INTRUDER", answer=False) as intruder, peer("T1") as t1:
        for _ in range(5):
            await intruder.birth()
            await intruder.publish(TabletChannel.REPORTED, b"{}")
        # The sentinel: T1's lock confirmation is processed after the intruder's messages.
        await t1.birth()
        result = await gateway.acli("lock", "--device", "T1", "--reason", "x", "--wait", "20")
        assert result.returncode == 0
        status = await gateway.acli("status", "--json")
    [entry] = audit_of(gateway, "unknown_tablet")
    assert entry["target"] == "device:INTRUDER"
    assert "INTRUDER" not in status.stdout


async def test_a_tablet_refusing_a_document_is_audited_with_its_reason(gateway, peer):
    async with peer("T1") as tablet:
        ack = Ack(ref="desired/7", state="rejected", reason="bad_signature: nope", at=1)
        await tablet.publish(TabletChannel.ACK, ack.model_dump_json().encode())
        result = await gateway.acli("lock", "--device", "T1", "--reason", "x", "--wait", "20")
        assert result.returncode == 0
    [entry] = audit_of(gateway, "tablet_refused")
    assert entry["actor"] == "tablet:T1"
    assert entry["detail"] == {"ref": "desired/7", "reason": "bad_signature: nope", "suppressed": 0}


async def test_a_message_on_a_topic_that_names_no_valid_tablet_id_is_ignored(
    gateway, peer, broker
):
    observer = broker.context(broker.observer_tls(1))
    async with aiomqtt.Client(broker.host, broker.port, tls_context=observer) as client, peer("T1"):
        await client.publish("tablet/bad id!/status", VALID_STATUS, qos=1)
        await client.publish("tablet/" + "x" * 200 + "/reported", b"{}", qos=1)
        result = await gateway.acli("lock", "--device", "T1", "--reason", "x", "--wait", "20")
    assert result.returncode == 0
    assert [e["action"] for e in gateway.staff_json("audit")["entries"]] == [
        "register", "first_desired", "lock"]
