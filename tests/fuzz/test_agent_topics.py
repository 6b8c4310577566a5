"""Fuzz: hostile documents on every topic a tablet's agent takes, through the real broker to a real
agent process (issue 13, campaign "fuzz"): 0 crashes, 0 accepted, every refusal audited, and the
audit trail not one row per hostile message (a kind floods into a counted row).

Each payload is a structured mutation (tests/fuzz/mutations.py) of a valid document for that
topic, validly signed by the wing's own key — the worst case: only the parser stands between the
body and the tablet — or an envelope that is wrong itself, a document for another tablet or wing,
or a replay of one applied before. Every one must be refused.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from agent.audit import REFUSAL_BURST
from provisioning.demo_estate import DemoEstate
from tests.fuzz.campaign import EXAMPLES, TALLY
from tests.fuzz.mutations import KINDS, dumps, mutate
from tests.fuzz.test_signed_documents import sign_text
from tests.policy import samples
from tests.support.agents import DAY_MS, AgentProcess, Probe, TestSigner, now_ms, write_agent_config
from tests.support.broker import WingBroker
from wire.documents import SignedTime
from wire.requests import RequestReply

pytestmark = pytest.mark.timeout(600)

CAMPAIGN = "agent topics via the broker"
DESIRED, CMD, REPLY = "tablet/t1/desired", "tablet/t1/cmd", "tablet/t1/reply"
POLICY, LOCKDOWN, TIME = "wing/policy", "wing/lockdown", "wing/time"
REPEATS = re.compile(r"\[\+(\d+) like it since the last row\]")


@dataclass
class Tablet:
    agent: AgentProcess
    probe: Probe
    signer: TestSigner
    replay: bytes
    baseline_rows: int


def templates(signer: TestSigner) -> dict[str, tuple[dict[str, Any], list[str], int]]:
    """A valid body per topic that would change the tablet if accepted, the fields it cannot do
    without, and its size cap."""
    now = now_ms()
    bodies: dict[str, Any] = {
        DESIRED: signer.desired("t1", 6, locked=False),
        LOCKDOWN: signer.lockdown("w1", 4, locked=True),
        TIME: SignedTime(audience="wing:w1", version=now + 1, issued=now + 1,
                         expires=now + DAY_MS),
        POLICY: samples.policy(audience="wing:w1", version=2, issued=now, expires=now + DAY_MS),
        REPLY: RequestReply(audience="device:t1", version=1, issued=now, expires=now + DAY_MS,
                            request="0123456789abcdef0123456789abcdef", text="yes", by="x"),
        CMD: signer.desired("t1", 6, locked=False),
    }
    return {topic: (body.model_dump(mode="json"),
                    [n for n, f in type(body).model_fields.items() if f.is_required()],
                    type(body).MAX_BYTES)
            for topic, body in bodies.items()}


def hostile(t: Tablet, count: int, seed: int) -> list[tuple[str, str, bytes]]:
    """(topic, kind, payload), every topic and every kind of mutation in turn."""
    rng = random.Random(seed)
    bodies = templates(t.signer)
    topics = list(bodies)
    extra = ("bad envelope", "other audience", "replay")
    cases = []
    for index in range(count):
        topic = topics[index % len(topics)]
        tree, required, cap = bodies[topic]
        kind = (*KINDS, *extra)[(index // len(topics)) % (len(KINDS) + len(extra))]
        if kind == "bad envelope":
            envelope = json.loads(sign_text(dumps(tree)))
            field = rng.choice(["kid", "sig", "body"])
            envelope[field] = rng.choice([None, 7, [], {"x": 1}, "", "\ud800"])
            payload = json.dumps(envelope).encode("utf-8", "surrogatepass")
        elif kind == "other audience":
            audience = "device:t2" if tree["audience"].startswith("device:") else "wing:w2"
            payload = sign_text(dumps({**tree, "audience": audience}))
        elif kind == "replay":
            payload = t.replay
        else:
            kind, text = mutate(tree, required, cap, rng, kind)
            payload = sign_text(text.decode("utf-8", "surrogatepass"))
        cases.append((topic, kind, payload))
    return cases


@pytest.fixture(scope="module")
def tablet(tmp_path_factory: pytest.TempPathFactory, demo_estate: DemoEstate) -> Iterator[Tablet]:
    root = tmp_path_factory.mktemp("agent-fuzz")
    broker = WingBroker(demo_estate).start()
    signer = TestSigner(key=samples.WING_KEY)  # the key `sign_text` signs with
    config = write_agent_config(
        root / "t1", device_id="t1", wing="w1", broker_host=broker.host,
        broker_port=broker.port, gateway_keys=[signer.write_public_key(root / "gateway.pem")],
        enrolment_bundle=demo_estate.bundle("t1"),
    )
    agent = AgentProcess(config)
    probe = Probe(broker.host, broker.port, ["tablet/t1/reported"], tls=broker.observer_tls(1))
    try:
        agent.start().wait_connected()
        probe.publish(TIME, signer.seal(signer.time("w1")), retain=False)
        replay = signer.seal(signer.desired("t1", 4, locked=False))
        probe.publish(DESIRED, replay, retain=False)
        probe.publish(DESIRED, signer.seal(signer.desired("t1", 5, locked=True,
                                                          reason="baseline")), retain=False)
        probe.expect(lambda m: json.loads(m.payload)["desired_version"] == 5)
        with sqlite3.connect(agent.state_dir / "state.db") as db:
            rows = db.execute("SELECT max(id) FROM audit").fetchone()[0]
        yield Tablet(agent, probe, signer, replay, rows)
    finally:
        probe.close()
        agent.kill()
        broker.remove()


def test_hostile_documents_on_every_topic_are_refused_audited_and_throttled(
        tablet: Tablet) -> None:
    t = tablet
    baseline = t.agent.state()
    assert baseline.locked and baseline.lock.reason == "baseline"
    cases = hostile(t, max(60, EXAMPLES), seed=13)
    batch = 30
    for start in range(0, len(cases), batch):
        for topic, _kind, payload in cases[start:start + batch]:
            TALLY.case(CAMPAIGN)
            t.probe.publish(topic, payload, retain=False)
        # A valid lock after each batch: one publisher's messages arrive in order, so once it is
        # reported every hostile one before it has been judged.
        version = 100 + start
        t.probe.publish(DESIRED, t.signer.seal(t.signer.desired(
            "t1", version, locked=True, reason="baseline")), retain=False)
        t.probe.expect(lambda m, v=version: json.loads(m.payload)["desired_version"] == v,
                       timeout=60)
        if not t.agent.running:
            TALLY.crash(CAMPAIGN)
        state = t.agent.state()
        if not state.locked or state.lock.reason != "baseline" or state.apps != baseline.apps:
            TALLY.fail_open(CAMPAIGN)
        assert t.agent.running, t.agent.log_tail()
        with sqlite3.connect(t.agent.state_dir / "state.db") as db:
            taken = db.execute("SELECT topic, detail FROM audit WHERE id > ? AND event = 'applied'"
                               " AND topic != ?", [t.baseline_rows, DESIRED]).fetchall()
        assert taken == [], [c for c in cases[start:start + batch] if c[0] == taken[0][0]]
        assert state.locked and state.lock.reason == "baseline" and state.apps == baseline.apps
    log = t.agent.log_tail(10**7)
    assert "Traceback" not in log and "error handling" not in log, log[-3000:]

    assert t.agent.stop() == 0  # on the way out, what was counted is recorded
    with sqlite3.connect(t.agent.state_dir / "state.db") as db:
        rows = db.execute("SELECT event, topic, reason, detail FROM audit WHERE id > ?",
                          [t.baseline_rows]).fetchall()
    refused = [r for r in rows if r[0] == "refused"]
    applied = [r for r in rows if r[0] == "applied"]
    assert len(applied) == len(range(0, len(cases), batch))  # only the valid locks
    # A row is one refusal, plus the repeats it counts; a row that is only a count (written on
    # the way out) is those repeats alone.
    counted = sum(int(not REPEATS.fullmatch(detail)) + sum(map(int, REPEATS.findall(detail)))
                  for _, _, _, detail in refused)
    assert counted == len(cases), "every hostile message is in the trail, one by one or counted"
    kinds = {(topic, reason) for _, topic, reason, _ in refused}
    assert {topic for topic, _ in kinds} == {DESIRED, CMD, REPLY, POLICY, LOCKDOWN, TIME}
    assert len(refused) <= len(kinds) * (REFUSAL_BURST + 1) < len(cases)
