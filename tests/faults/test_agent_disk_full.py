"""The tablet's disk fills up while documents arrive (issue 13, campaign "faults"): a lock still
takes effect (in memory), an unlock waits (refused `disk_full`, the tablet stays locked), the
agent keeps running, and once space returns what took effect is stored and every event audited."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from provisioning.demo_estate import DemoEstate
from tests.faults.disk import fill, needs_root, small_disk
from tests.fuzz.campaign import TALLY
from tests.support.agents import AgentProcess, Probe, TestSigner, write_agent_config
from tests.support.broker import WingBroker

pytestmark = [needs_root, pytest.mark.timeout(120)]

CAMPAIGN = "disk full: agent state write"
DESIRED = "tablet/t1/desired"


@dataclass
class Tablet:
    agent: AgentProcess
    probe: Probe
    signer: TestSigner


@pytest.fixture
def tablet(tmp_path: Path, demo_estate: DemoEstate) -> Iterator[Tablet]:
    broker = WingBroker(demo_estate).start()
    signer = TestSigner()
    config = write_agent_config(
        tmp_path / "t1", device_id="t1", wing="w1", broker_host=broker.host,
        broker_port=broker.port, gateway_keys=[signer.write_public_key(tmp_path / "gw.pem")],
        enrolment_bundle=demo_estate.bundle("t1"),
    )
    agent = AgentProcess(config)
    probe = Probe(broker.host, broker.port, ["tablet/t1/reported", "tablet/t1/ack"],
                  tls=broker.observer_tls(1))
    try:
        with small_disk(agent.state_dir):
            agent.start().wait_connected()
            probe.publish("wing/time", signer.seal(signer.time("w1")), retain=False)
            yield Tablet(agent, probe, signer)
            agent.stop()
    finally:
        probe.close()
        agent.kill()
        broker.remove()


def reported(t: Tablet, version: int) -> None:
    t.probe.expect(lambda m: m.topic == "tablet/t1/reported"
                   and json.loads(m.payload)["desired_version"] == version)


def test_a_lock_takes_effect_on_a_full_disk_an_unlock_waits_and_both_are_kept_after(
        tablet: Tablet) -> None:
    t = tablet
    t.probe.publish(DESIRED, t.signer.seal(t.signer.first("t1", 1)))
    reported(t, 1)
    assert not t.agent.wait_for(lambda s: not s.locked).locked

    filler = fill(t.agent.state_dir)
    TALLY.case(CAMPAIGN)
    t.probe.publish(DESIRED, t.signer.seal(t.signer.desired("t1", 2, locked=True,
                                                            reason="search")))
    reported(t, 2)  # in effect, though not stored
    state = t.agent.wait_for(lambda s: s.locked)
    assert state.lock.reason == "search" and t.agent.running

    TALLY.case(CAMPAIGN)
    t.probe.publish(DESIRED, t.signer.seal(t.signer.desired("t1", 3, locked=False)))
    ack = t.probe.expect(lambda m: m.topic == "tablet/t1/ack"
                         and json.loads(m.payload)["ref"] == "desired/3")
    assert json.loads(ack.payload)["state"] == "rejected"
    assert json.loads(ack.payload)["reason"].startswith("disk_full: ")
    state = t.agent.state()
    if not state.locked:
        TALLY.fail_open(CAMPAIGN)
    assert state.locked and state.lock.reason == "search" and t.agent.running

    filler.unlink()
    t.probe.publish("wing/time", t.signer.seal(t.signer.time("w1")), retain=False)
    reported(t, 3)  # stored at last, and the unlock that waited judged again
    assert not t.agent.wait_for(lambda s: not s.locked).locked
    t.agent.stop()

    with sqlite3.connect(t.agent.state_dir / "state.db") as db:
        applied = dict(db.execute("SELECT topic, version FROM applied").fetchall())
        rows = db.execute("SELECT event, topic, reason, detail FROM audit ORDER BY id").fetchall()
    assert applied["desired"] == 3
    events = [(e, r) for e, _, r, _ in rows if e in ("disk_full", "applied")
              or r == "disk_full"]
    # Once there is space: the document stored late with its row, then the rows kept in memory
    # meanwhile (each with the time it happened), then the recovery, then the unlock that waited.
    assert events == [
        ("applied", ""),            # version 1
        ("applied", ""),            # version 2, stored late
        ("disk_full", "kept_in_memory"),
        ("refused", "disk_full"),
        ("disk_full", "space_again"),
        ("applied", ""),            # version 3
    ], rows
