"""Prisoners' requests at the gateway: kept once per id, malformed ones audited, staff's replies
signed, delivered to the tablet that asked and sent again at its birth until it acknowledges."""

from __future__ import annotations

import json
import os
import pwd
import uuid

import pytest

from tests.gateway.tablet_peer import now_ms
from wire import topics
from wire.documents import Ack, device_audience
from wire.envelope import Accepted, open_envelope
from wire.requests import MAX_OPEN, Request, RequestReply
from wire.topics import TabletChannel

pytestmark = pytest.mark.timeout(90)


def a_request(text: str = "I need to see the nurse", type_: str = "healthcare") -> Request:
    return Request(id=uuid.uuid4().hex, type=type_, text=text, created=now_ms())  # type: ignore[arg-type]


def audit_of(gateway, action: str) -> list[dict]:
    return [e for e in gateway.staff_json("audit")["entries"] if e["action"] == action]


async def wait_listed(gateway, count: int) -> list[dict]:
    for _ in range(200):
        result = await gateway.acli("requests", "list", "--json")
        assert result.returncode == 0, result.stderr
        rows = json.loads(result.stdout)
        if len(rows) >= count:
            return rows
    raise AssertionError(f"fewer than {count} requests listed: {rows}")


async def test_a_request_sent_twice_is_kept_once_and_the_copy_audited_once(gateway, peer):
    request = a_request()
    async with peer("T1") as tablet:
        for _ in range(3):
            await tablet.publish(TabletChannel.REQUEST, request.model_dump_json().encode())
        # A second request after the copies: once it is listed, the copies were handled.
        await tablet.publish(TabletChannel.REQUEST, a_request("canteen", "canteen")
                             .model_dump_json().encode())
        rows = await wait_listed(gateway, 2)
    assert [r["id"] for r in rows].count(request.id) == 1
    first = next(r for r in rows if r["id"] == request.id)
    assert (first["device"], first["type"], first["text"]) == ("T1", "healthcare",
                                                              "I need to see the nurse")
    assert first["copies"] == 2
    assert len(audit_of(gateway, "request")) == 2
    [duplicate] = audit_of(gateway, "request_duplicate")
    assert duplicate["detail"]["id"] == request.id


BAD = [
    pytest.param(b"{not json", "malformed", id="not-json"),
    pytest.param(b'{"id":"x","type":"general","text":"hi","created":1}', "malformed",
                 id="bad-id"),
    pytest.param(b'{"id":"' + b"a" * 32 + b'","type":"escape","text":"hi","created":1}',
                 "malformed", id="unknown-type"),
    pytest.param(b'{"id":"' + b"a" * 32 + b'","type":"general","text":"","created":1}',
                 "malformed", id="empty-text"),
    pytest.param(b'{"id":"' + b"a" * 32 + b'","type":"general","text":"' + b"x" * 2001
                 + b'","created":1}', "malformed", id="text-too-long"),
    pytest.param(b"x" * 20_000, "over_size_cap", id="oversize"),
]


@pytest.mark.parametrize(("payload", "reason"), BAD)
async def test_a_malformed_request_is_audited_and_the_next_good_one_is_kept(
    gateway, peer, payload, reason
):
    good = a_request()
    async with peer("T1") as tablet:
        await tablet.publish(TabletChannel.REQUEST, payload)
        await tablet.publish(TabletChannel.REQUEST, good.model_dump_json().encode())
        rows = await wait_listed(gateway, 1)
    assert [r["id"] for r in rows] == [good.id]
    [entry] = audit_of(gateway, "invalid_message")
    assert entry["detail"]["channel"] == "request"
    assert entry["detail"]["reason"].startswith(reason)


async def test_a_request_id_taken_by_another_tablet_is_refused(gateway, peer):
    request = a_request()
    async with peer("T1") as t1, peer("T2") as t2:
        await t1.publish(TabletChannel.REQUEST, request.model_dump_json().encode())
        await wait_listed(gateway, 1)
        await t2.publish(TabletChannel.REQUEST, request.model_dump_json().encode())
        await t2.publish(TabletChannel.REQUEST, a_request().model_dump_json().encode())
        rows = await wait_listed(gateway, 2)
    assert {r["device"] for r in rows if r["id"] == request.id} == {"T1"}
    [entry] = audit_of(gateway, "invalid_message")
    assert entry["detail"]["reason"].startswith("id_conflict")


async def test_staff_reply_is_signed_for_the_tablet_and_sent_again_at_birth_until_acked(
    gateway, peer
):
    request = a_request()
    reply_topic = topics.tablet("T1", TabletChannel.REPLY)
    async with peer("T1") as tablet:
        await tablet.client.subscribe(reply_topic, qos=1)
        await tablet.publish(TabletChannel.REQUEST, request.model_dump_json().encode())
        await wait_listed(gateway, 1)

        result = await gateway.acli("requests", "reply", request.id, "--text",
                                      "Booked for Tuesday", "--by", "officer.k")
        assert result.returncode == 0, result.stderr
        await tablet.wait_until(lambda: len(tablet.on(reply_topic)) == 1)
        verdict = open_envelope(tablet.on(reply_topic)[0].payload, RequestReply,
                                trusted_keys=gateway.trusted_keys,
                                audience=device_audience("T1"), now_ms=now_ms())
        assert isinstance(verdict, Accepted)
        assert (verdict.document.request, verdict.document.text, verdict.document.by) == (
            request.id, "Booked for Tuesday", f"os:{pwd.getpwuid(os.getuid()).pw_name} (officer.k)")

        await tablet.birth("boot-2")  # not acknowledged yet: sent again
        await tablet.wait_until(lambda: len(tablet.on(reply_topic)) == 2)

        ack = Ack(ref=f"reply/{request.id}", state="succeeded", at=now_ms())
        await tablet.publish(TabletChannel.ACK, ack.model_dump_json().encode())
        for _ in range(100):
            [row] = (await wait_listed(gateway, 1))
            if row["reply_delivered"]:
                break
        assert row["reply_delivered"] and row["status"] == "answered"
        await tablet.birth("boot-3")  # acknowledged: not sent again (the lock is a sentinel)
        locked = await gateway.acli("lock", "--device", "T1", "--reason", "x", "--wait", "20")
        assert locked.returncode == 0, locked.stderr
    assert len(tablet.on(reply_topic)) == 2
    [entry] = audit_of(gateway, "request_reply")
    me = pwd.getpwuid(os.getuid()).pw_name
    assert entry["actor"] == f"staff:os:{me} (officer.k)" and entry["detail"]["id"] == request.id


async def test_replying_to_an_unknown_request_exits_2(gateway):
    result = await gateway.acli("requests", "reply", "f" * 32, "--text", "hello")
    assert result.returncode == 2
    assert "no request" in result.stderr


async def test_replying_twice_to_one_request_is_refused(gateway, peer):
    request = a_request()
    async with peer("T1") as tablet:
        await tablet.publish(TabletChannel.REQUEST, request.model_dump_json().encode())
        await wait_listed(gateway, 1)
    assert (await gateway.acli("requests", "reply", request.id, "--text", "yes")).returncode == 0
    again = await gateway.acli("requests", "reply", request.id, "--text", "no")
    assert again.returncode == 2
    assert "already answered" in again.stderr


def test_requests_list_exits_3_when_the_gateway_is_unreachable(tmp_path):
    from click.testing import CliRunner

    from gateway.staff import staff

    result = CliRunner().invoke(staff, ["requests", "list", "--api", str(tmp_path / "no.sock")])
    assert result.exit_code == 3
    assert "unreachable" in result.output


async def test_a_tablet_with_max_open_requests_waiting_has_the_next_refused_and_audited(
    gateway, peer
):
    async with peer("T1") as t1, peer("T2") as t2:
        for n in range(MAX_OPEN + 2):
            await t1.publish(TabletChannel.REQUEST, a_request(f"number {n}")
                             .model_dump_json().encode())
        await t2.publish(TabletChannel.REQUEST, a_request("from another cell")
                         .model_dump_json().encode())  # after T1's: handled once it is listed
        rows = await wait_listed(gateway, MAX_OPEN + 1)
    assert sorted(r["text"] for r in rows if r["device"] == "T1") == sorted(
        f"number {n}" for n in range(MAX_OPEN))
    assert [r["text"] for r in rows if r["device"] == "T2"] == ["from another cell"]
    [entry] = audit_of(gateway, "invalid_message")  # two refused, audited once (throttled)
    assert entry["detail"]["reason"].startswith("too_many_open")


async def test_staff_assign_a_request_to_a_console_account_and_take_it_back(gateway, peer):
    request = a_request()
    async with peer("T1") as tablet:
        await tablet.publish(TabletChannel.REQUEST, request.model_dump_json().encode())
        await wait_listed(gateway, 1)
    assert gateway.cli("account", "add", "ann", "--display", "Ann",
                         "--roles", "officer").returncode == 0
    given = await gateway.acli("requests", "assign", request.id, "--to", "ann")
    assert given.returncode == 0, given.stderr
    assert (await wait_listed(gateway, 1))[0]["assigned_to"] == "ann"
    assert (await gateway.acli("requests", "assign", request.id, "--to", "nobody-known")
            ).returncode == 2
    back = await gateway.acli("requests", "assign", request.id, "--nobody")
    assert back.returncode == 0, back.stderr
    assert (await wait_listed(gateway, 1))[0]["assigned_to"] is None
    assert [e["detail"]["to"] for e in audit_of(gateway, "request_assign")] == ["ann"]
