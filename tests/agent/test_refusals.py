"""Documents a tablet must refuse: each leaves the state as it was, is audited with its reason,
and is answered with a rejected ack the gateway can show (one real agent process for the table)."""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from provisioning.demo_estate import DemoEstate
from tests.support.agents import DAY_MS, AgentProcess, Probe, TestSigner, now_ms, write_agent_config
from tests.support.broker import WingBroker
from wire.documents import DesiredState
from wire.envelope import canonical_json, key_id
from wire.localapi import ShellState

DESIRED = "tablet/t1/desired"
LOCKDOWN = "wing/lockdown"
CMD = "tablet/t1/cmd"


@dataclass
class Tablet:
    agent: AgentProcess
    probe: Probe
    signer: TestSigner
    baseline: ShellState
    replay: bytes
    """The envelope of desired version 4, applied before version 5."""
    lockdown: bytes
    """The envelope of the applied lockdown."""


@pytest.fixture(scope="module")
def tablet(tmp_path_factory: pytest.TempPathFactory, demo_estate: DemoEstate) -> Iterator[Tablet]:
    root = tmp_path_factory.mktemp("refusals")
    broker = WingBroker(demo_estate).start()
    signer = TestSigner()
    config = write_agent_config(
        root / "t1",
        device_id="t1",
        wing="w1",
        broker_host=broker.host,
        broker_port=broker.port,
        gateway_keys=[signer.write_public_key(root / "gateway.pem")],
        enrolment_bundle=demo_estate.bundle("t1"),
    )
    agent = AgentProcess(config)
    probe = Probe(
        broker.host, broker.port, ["tablet/t1/reported", "tablet/t1/ack"], tls=broker.observer_tls(1)
    )
    try:
        agent.start().wait_connected()
        # The gateway's time, as every running tablet has it: expiry is judged by trusted time
        # (before it, only the untrusted system clock could call a document expired). One
        # publisher's messages arrive in order: it is taken before the documents below.
        probe.publish("wing/time", signer.seal(signer.time("w1")), retain=False)
        replay = signer.seal(signer.desired("t1", 4, locked=False))
        probe.publish(DESIRED, replay)
        probe.publish(DESIRED, signer.seal(signer.desired("t1", 5, locked=True, reason="baseline")))
        lockdown = signer.seal(signer.lockdown("w1", 3, locked=False))
        probe.publish(LOCKDOWN, lockdown)
        probe.expect(
            lambda m: (
                m.topic == "tablet/t1/reported"
                and json.loads(m.payload)["desired_version"] == 5
                and json.loads(m.payload)["lockdown_version"] == 3
            )
        )
        baseline = agent.state()
        assert baseline.locked and baseline.lock.reason == "baseline"
        yield Tablet(agent, probe, signer, baseline, replay, lockdown)
    finally:
        probe.close()
        agent.kill()
        broker.remove()


def sign_raw(body: dict[str, object], key: Ed25519PrivateKey) -> bytes:
    """An envelope around any body, validly signed: for bodies the models would not build."""
    text = canonical_json(body)
    return canonical_json(
        {
            "body": text.decode(),
            "kid": key_id(key.public_key()),
            "sig": base64.b64encode(key.sign(text)).decode(),
        }
    )


def forged(t: Tablet) -> bytes:
    return TestSigner().seal(t.signer.desired("t1", 6, locked=False))


def tampered(t: Tablet) -> bytes:
    envelope = json.loads(t.signer.seal(t.signer.desired("t1", 6, locked=True)))
    envelope["body"] = envelope["body"].replace('"locked":true', '"locked":false')
    return canonical_json(envelope)


def replayed(t: Tablet) -> bytes:
    return t.replay


def stale(t: Tablet) -> bytes:
    return t.signer.seal(t.signer.desired("t1", 3, locked=False))


def same_version_other_content(t: Tablet) -> bytes:
    return t.signer.seal(t.signer.desired("t1", 5, locked=False))


def expired(t: Tablet) -> bytes:
    issued = now_ms() - 2 * DAY_MS
    return t.signer.seal(
        t.signer.desired("t1", 6, locked=False, issued=issued, expires=issued + DAY_MS)
    )


def over_size(t: Tablet) -> bytes:
    return json.dumps(
        {"body": "x" * (DesiredState.MAX_BYTES + 4_000), "kid": "k", "sig": "s"}).encode()


def not_json(t: Tablet) -> bytes:
    return b"\x00{unlock everything"


def deeply_nested(t: Tablet) -> bytes:
    """Under the size cap, yet nested deeper than Python's JSON parser can recurse."""
    return b"[" * 10_000


def body_missing_lock(t: Tablet) -> bytes:
    body = t.signer.desired("t1", 6, locked=False).model_dump(mode="json")
    del body["lock"]
    return sign_raw(body, t.signer.key)


def for_another_tablet(t: Tablet) -> bytes:
    return t.signer.seal(t.signer.desired("t2", 6, locked=False))


def lockdown_for_another_wing(t: Tablet) -> bytes:
    return t.signer.seal(t.signer.lockdown("w2", 4, locked=True))


def forged_lockdown(t: Tablet) -> bytes:
    return TestSigner().seal(t.signer.lockdown("w1", 4, locked=True))


def lockdown_sent_as_desired(t: Tablet) -> bytes:
    return t.signer.seal(t.signer.lockdown("w1", 6, locked=False, audience="device:t1"))


def a_job(t: Tablet) -> bytes:
    return b'{"id": "job-1", "do": "wipe"}'


CASES: list[tuple[str, Callable[[Tablet], bytes], str, str, str]] = [
    # (topic, payload, ack ref, reason)
    (DESIRED, forged, "desired/?", "unknown_key"),
    (DESIRED, tampered, "desired/?", "bad_signature"),
    (DESIRED, replayed, "desired/4", "not_newer"),
    (DESIRED, stale, "desired/3", "not_newer"),
    (DESIRED, same_version_other_content, "desired/5", "not_newer"),
    (DESIRED, expired, "desired/6", "expired"),
    (DESIRED, over_size, "desired/?", "over_size_cap"),
    (DESIRED, not_json, "desired/?", "malformed"),
    (DESIRED, deeply_nested, "desired/?", "malformed"),
    (DESIRED, body_missing_lock, "desired/?", "malformed"),
    (DESIRED, lockdown_sent_as_desired, "desired/?", "malformed"),
    (DESIRED, for_another_tablet, "desired/6", "wrong_audience"),
    (LOCKDOWN, lockdown_for_another_wing, "lockdown/4", "wrong_audience"),
    (LOCKDOWN, forged_lockdown, "lockdown/?", "unknown_key"),
    (CMD, a_job, "job/?", "malformed"),
]  # type: ignore[list-item]


def last_audit(agent: AgentProcess) -> tuple[str, str, str]:
    with sqlite3.connect(f"file:{agent.state_dir / 'state.db'}?mode=ro", uri=True) as db:
        row = db.execute(
            "SELECT event, topic, reason FROM audit ORDER BY id DESC LIMIT 1"
        ).fetchone()
    return tuple(row)  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("topic", "payload", "ref", "reason"), CASES, ids=[case[1].__name__ for case in CASES]
)
def test_a_bad_document_is_refused_audited_and_acked(
    tablet: Tablet, topic: str, payload: Callable[[Tablet], bytes], ref: str, reason: str
) -> None:
    tablet.probe.publish(topic, payload(tablet), retain=False)

    ack = json.loads(tablet.probe.expect(lambda m: m.topic == "tablet/t1/ack").payload)
    assert (ack["ref"], ack["state"]) == (ref, "rejected")
    assert ack["reason"].startswith(f"{reason}: ")
    assert last_audit(tablet.agent) == ("refused", topic, reason)
    assert tablet.agent.state() == tablet.baseline


def next_ack_after_a_marker(tablet: Tablet) -> str:
    """Publish a job (always refused) and return the ref of the next ack: messages from one
    publisher arrive in order, so an ack caused by anything published before would come first."""
    tablet.probe.publish(CMD, b"marker", retain=False)
    return str(json.loads(tablet.probe.expect(lambda m: m.topic == "tablet/t1/ack").payload)["ref"])


def test_the_very_document_applied_again_is_neither_refused_nor_reapplied(tablet: Tablet) -> None:
    """A retained re-delivery of the applied document is normal: no ack, no audit row."""
    before = last_audit(tablet.agent)
    tablet.probe.publish(LOCKDOWN, tablet.lockdown, retain=False)
    assert next_ack_after_a_marker(tablet) == "job/?"
    with sqlite3.connect(f"file:{tablet.agent.state_dir / 'state.db'}?mode=ro", uri=True) as db:
        since = db.execute("SELECT event, topic FROM audit ORDER BY id DESC LIMIT 2").fetchall()
    assert since[1] == before[:2]  # only the marker's row was added


def test_unknown_wing_topics_are_ignored_quietly(tablet: Tablet) -> None:
    tablet.probe.publish("wing/announcements", b"{}", retain=False)  # wing/policy is known now
    tablet.probe.publish("wing/something-new", b"\x00", retain=False)
    assert next_ack_after_a_marker(tablet) == "job/?"
    assert tablet.agent.state() == tablet.baseline
