"""The agent's side of requests, with the real agent process and the real broker: a request is
kept on the tablet before the shell hears "saved", delivered once the broker is there, and staff's
signed reply is kept and shown; a forged or stray reply is refused and audited."""

from __future__ import annotations

import json
import sqlite3

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.agents import Probe, now_ms
from tests.support.requests import submit
from wire.documents import device_audience
from wire.envelope import seal
from wire.requests import MAX_OPEN, TOO_MANY_OPEN, RequestReply

pytestmark = pytest.mark.timeout(120)


def reply_for(request_id: str, text: str = "Booked for Tuesday", version: int = 1,
              device: str = "t1") -> RequestReply:
    now = now_ms()
    return RequestReply(audience=device_audience(device), version=version, issued=now,
                        expires=now + 60_000, request=request_id, text=text, by="officer.k")


@pytest.fixture
def observer(broker):
    probe = Probe(broker.host, broker.port, ["tablet/+/request", "tablet/+/ack"],
                  tls=broker.observer_tls(1))
    yield probe
    probe.close()


def audit_rows(agent) -> list[tuple[str, str, str, str]]:
    with sqlite3.connect(agent.state_dir / "state.db") as db:
        return db.execute("SELECT event, topic, reason, detail FROM audit").fetchall()


def test_a_request_is_delivered_once_connected_and_shown_as_delivered(make_agent, observer):
    agent = make_agent("t1").start()
    agent.wait_connected()

    saved = submit(agent.socket_path, "healthcare", "I need to see the nurse")

    assert saved.ok and len(saved.id) == 32
    sent = observer.expect(lambda m: m.topic == "tablet/t1/request")
    body = json.loads(sent.payload)
    assert (body["id"], body["type"], body["text"]) == (saved.id, "healthcare",
                                                       "I need to see the nurse")
    assert not sent.retain
    state = agent.wait_for(lambda s: bool(s.requests) and s.requests[0].status == "delivered")
    assert state.requests[0].id == saved.id


def test_a_request_written_offline_survives_a_kill_and_goes_out_when_the_broker_returns(
    broker, make_agent
):
    agent = make_agent("t1").start()
    agent.wait_connected()
    broker.kill()
    agent.wait_for(lambda s: not s.connected)

    saved = submit(agent.socket_path, "complaint", "My canteen order was wrong")
    assert saved.ok
    assert [(r.id, r.status) for r in agent.state().requests] == [(saved.id, "waiting")]
    agent.kill()  # power cut while it waits
    broker.start()
    observer = Probe(broker.host, broker.port, ["tablet/+/request"], tls=broker.observer_tls(1))
    try:
        agent.start()
        sent = observer.expect(lambda m: m.topic == "tablet/t1/request", timeout=60)
        assert json.loads(sent.payload)["id"] == saved.id
        agent.wait_for(lambda s: s.requests[0].status == "delivered", timeout=30)
    finally:
        observer.close()


def test_an_empty_or_unknown_request_is_refused_at_the_socket(make_agent):
    agent = make_agent("t1").start()
    for type_, text in (("general", ""), ("escape", "hello"), ("general", "x" * 2001)):
        with pytest.raises(RuntimeError, match="error"):
            submit(agent.socket_path, type_, text)
    assert agent.state().requests == ()


def test_staff_reply_signed_by_the_gateway_is_kept_shown_and_acknowledged(
    make_agent, observer, signer
):
    agent = make_agent("t1").start()
    agent.wait_connected()
    saved = submit(agent.socket_path, "visits", "Can my sister visit?")
    agent.wait_for(lambda s: s.requests[0].status == "delivered")

    observer.publish("tablet/t1/reply", seal(reply_for(saved.id), signer.key), retain=False)

    state = agent.wait_for(lambda s: s.requests[0].status == "answered")
    assert (state.requests[0].reply, state.requests[0].reply_by) == ("Booked for Tuesday",
                                                                      "officer.k")
    ack = observer.expect(lambda m: m.topic == "tablet/t1/ack"
                          and json.loads(m.payload)["ref"] == f"reply/{saved.id}")
    assert json.loads(ack.payload)["state"] == "succeeded"
    agent.kill()
    agent.start()
    assert agent.state().requests[0].reply == "Booked for Tuesday"


@pytest.mark.parametrize("case", ["forged", "other-tablet", "expired", "unknown-request"])
def test_a_bad_reply_is_refused_audited_and_acked_as_rejected(
    make_agent, observer, signer, case
):
    agent = make_agent("t1").start()
    agent.wait_connected()
    saved = submit(agent.socket_path, "general", "When is education induction?")
    agent.wait_for(lambda s: s.requests[0].status == "delivered")
    key, reply = signer.key, reply_for(saved.id, text="Forged answer")
    if case == "forged":
        key = Ed25519PrivateKey.generate()
    elif case == "other-tablet":
        reply = reply.model_copy(update={"audience": device_audience("t2")})
    elif case == "expired":
        reply = reply.model_copy(update={"issued": 1, "expires": 2})
    else:
        reply = reply.model_copy(update={"request": "0" * 32})
    expected = {"forged": "unknown_key", "other-tablet": "wrong_audience", "expired": "expired",
                "unknown-request": "unknown_request"}[case]

    # The gateway's time first: expiry is judged by trusted time, never the system clock alone.
    observer.publish("wing/time", signer.seal(signer.time("w1")), retain=False)
    observer.publish("tablet/t1/reply", seal(reply, key), retain=False)

    ack = observer.expect(lambda m: m.topic == "tablet/t1/ack"
                          and json.loads(m.payload)["state"] == "rejected")
    assert json.loads(ack.payload)["reason"].startswith(expected)
    assert ("refused", "tablet/t1/reply", expected) in [r[:3] for r in audit_rows(agent)]
    assert agent.state().requests[0].status == "delivered"
    assert agent.state().requests[0].reply == ""


def test_a_tablet_with_max_open_requests_waiting_refuses_the_next_and_keeps_the_others(
    make_agent,
):
    agent = make_agent("t1").start()
    saved = [submit(agent.socket_path, "general", f"number {n}") for n in range(MAX_OPEN)]
    assert all(s.ok for s in saved)

    refused = submit(agent.socket_path, "general", "one too many")

    assert (refused.ok, refused.reason) == (False, TOO_MANY_OPEN)
    with sqlite3.connect(agent.state_dir / "requests.db") as db:
        kept = {row[0] for row in db.execute("SELECT id FROM requests")}
    assert kept == {s.id for s in saved}
