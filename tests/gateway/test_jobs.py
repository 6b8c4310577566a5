"""Remote wipe under the two-person rule, end to end: a real gateway, the real broker, a real
agent, and throwaway OS accounts on the control API's socket. One account asking sends nothing;
the same account cannot approve, whatever it types; a second account's approval signs the job
(naming both), the tablet erases its user data and says so, and the audit names both. An offline
tablet gets the job when it comes back. The book's own rules (lapse after 10 minutes, expiry of a
job not taken) are checked on the store with an explicit clock."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from gateway.job_book import APPROVE_WITHIN_MS, FINISH_WITHIN_MS, JobBook, JobConflict
from gateway.store import Store
from tests.gateway.tablet_peer import TabletPeer
from tests.support.agents import AgentProcess, write_agent_config
from tests.support.broker import WingBroker
from tests.support.gateway import Gateway
from tests.support.os_accounts import Account, MakeAccount, as_account, needs_root
from wire.requests import Request
from wire.topics import TabletChannel

pytestmark = pytest.mark.timeout(180)


@pytest.fixture
def wing(broker: WingBroker, make_gateway: Callable[..., Gateway], staff_group: str,
         tmp_path: Path) -> Iterator[tuple[Gateway, AgentProcess, Path]]:
    """A gateway whose socket the staff group may use, and tablet T1's agent with a shell data
    folder holding a prisoner's things."""
    wing_id = broker.demo.wing if broker.demo else "A"
    gateway = make_gateway(api_group=staff_group, wing=wing_id)
    shell = tmp_path / "shell-data"
    (shell / "apps" / "notes").mkdir(parents=True)
    (shell / "apps" / "notes" / "diary.txt").write_text("private")
    (shell / "prefs.json").write_text("{}")
    config = write_agent_config(
        tmp_path / "T1", device_id="T1", wing=wing_id, broker_host=broker.host,
        broker_port=broker.port, gateway_keys=[gateway.public_key_path],
        enrolment_bundle=broker.demo.bundle("T1") if broker.demo else None,
        extra=[f"user_data_dirs = [{json.dumps(str(shell))}]"])
    agent = AgentProcess(config).start()
    agent.wait_connected()
    agent.wait_for(lambda s: not s.locked)
    yield gateway, agent, shell
    agent.kill()


def run(account: Account, gateway: Gateway, *args: str) -> dict[str, Any]:
    result = as_account(account, gateway, "staff", *args, "--json")
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def wait_state(gateway: Gateway, job_id: str, state: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = gateway.staff_json("jobs", job_id)
        if job["state"] == state or time.monotonic() > deadline:
            assert job["state"] == state, job
            return job
        time.sleep(0.2)


def audit(gateway: Gateway) -> list[dict[str, Any]]:
    return [e for e in gateway.staff_json("audit")["entries"] if e["action"].startswith("wipe_")]


@needs_root
def test_a_wipe_asked_for_by_one_account_sends_nothing_and_it_cannot_approve_it_itself(
    wing: tuple[Gateway, AgentProcess, Path], make_account: MakeAccount, staff_group: str
) -> None:
    gateway, agent, shell = wing
    alice = make_account(staff_group)
    asked = run(alice, gateway, "wipe", "--device", "T1", "--reason", "handed back")
    assert asked["state"] == "awaiting_approval"

    for note in ((), ("--as", "someone.else"), ("--as", f"os:{alice.name}x")):
        refused = as_account(alice, gateway, "staff", "wipe", "approve", asked["id"], *note)
        assert refused.returncode == 2
        assert "different member of staff" in refused.stderr

    time.sleep(1)
    assert (shell / "prefs.json").exists() and not agent.state().locked
    assert gateway.staff_json("jobs", asked["id"])["state"] == "awaiting_approval"
    assert [e["action"] for e in audit(gateway)] == ["wipe_requested"] + [
        "wipe_approve_refused"] * 3


@needs_root
def test_a_second_account_approves_and_the_tablet_is_wiped_with_both_named(
    wing: tuple[Gateway, AgentProcess, Path], make_account: MakeAccount, staff_group: str
) -> None:
    gateway, agent, shell = wing
    alice, bob = make_account(staff_group), make_account(staff_group)
    asked = run(alice, gateway, "wipe", "--device", "T1", "--reason", "handed back")

    approved = run(bob, gateway, "wipe", "approve", asked["id"])

    assert approved["approved_by"] == f"os:{bob.name}"
    done = wait_state(gateway, asked["id"], "succeeded")
    assert done["requested_by"] == f"os:{alice.name}"
    assert list(shell.iterdir()) == []
    assert agent.wait_for(lambda s: s.locked).lock.reason == "This tablet was reset"
    entries = {e["action"]: e for e in audit(gateway)}
    assert {"wipe_requested", "wipe_approved", "wipe_received",
            "wipe_in_progress", "wipe_succeeded"} <= set(entries)
    assert entries["wipe_approved"]["actor"] == f"staff:os:{bob.name}"
    assert (entries["wipe_succeeded"]["detail"]["requested_by"],
            entries["wipe_succeeded"]["detail"]["approved_by"]) == (f"os:{alice.name}",
                                                                   f"os:{bob.name}")
    with sqlite3.connect(agent.state_dir / "state.db") as db:
        rows = db.execute("SELECT detail FROM audit WHERE event = 'job_succeeded'").fetchall()
    assert f"os:{alice.name}+os:{bob.name}" in rows[0][0]
    unlocked = gateway.cli("unlock", "--device", "T1", "--reason", "new occupant", "--wait",
                             "20")
    assert unlocked.returncode == 0, unlocked.stderr  # the next desired state ends the reset
    assert not agent.wait_for(lambda s: not s.locked).locked


@needs_root
def test_an_offline_tablet_gets_an_approved_wipe_when_it_comes_back(
    wing: tuple[Gateway, AgentProcess, Path], make_account: MakeAccount, staff_group: str
) -> None:
    gateway, agent, shell = wing
    alice, bob = make_account(staff_group), make_account(staff_group)
    agent.stop()
    asked = run(alice, gateway, "wipe", "--device", "T1", "--reason", "handed back")
    run(bob, gateway, "wipe", "approve", asked["id"])
    assert (shell / "prefs.json").exists()

    agent.start()

    wait_state(gateway, asked["id"], "succeeded")
    assert list(shell.iterdir()) == []


def test_a_wipe_of_an_unknown_tablet_is_refused(gateway: Gateway) -> None:
    result = gateway.cli("wipe", "--device", "T9", "--reason", "x")
    assert result.returncode == 2 and "no tablet" in result.stderr
    assert gateway.cli("wipe", "--device", "T1").returncode == 2


def test_a_request_not_approved_within_ten_minutes_lapses_audited_and_is_never_signed(
    tmp_path: Path
) -> None:
    store = Store(tmp_path / "gw.db")
    book = JobBook(store)
    job = book.request("J" + "a" * 32, "T1", "wipe", "handed back", "os:alice", "os:alice", 0)

    with pytest.raises(JobConflict, match="lapsed"):
        book.check_approval(job.id, "os:bob", "os:bob", APPROVE_WITHIN_MS + 1)

    lapsed = book.get(job.id)
    assert lapsed is not None and (lapsed.state, lapsed.envelope) == ("lapsed", None)
    assert book.to_send(None, APPROVE_WITHIN_MS + 2) == []
    actions = [e.action for e in store.audit_entries()]
    assert actions == ["wipe_requested", "wipe_lapsed", "wipe_approve_refused"]


def test_a_signed_job_not_taken_before_it_expires_is_closed_and_not_sent_again(
    tmp_path: Path
) -> None:
    store = Store(tmp_path / "gw.db")
    book = JobBook(store)
    job = book.request("J" + "b" * 32, "T1", "wipe", "handed back", "os:alice", "os:alice", 0)
    job = book.check_approval(job.id, "os:bob", "os:bob", 1000) or job
    book.approve(job, "os:bob", "os:bob", 1000, b"envelope", 5000)
    assert [j.id for j in book.to_send("T1", 4999)] == [job.id]

    assert [j.id for j in book.expire(5000)] == [job.id]

    assert book.to_send("T1", 5000) == []
    assert book.get(job.id).state == "expired"  # type: ignore[union-attr]
    assert not book.mark(job.id, "T1", "succeeded", "", 6000)  # final: an ack moves nothing


def test_a_job_taken_but_never_reported_finished_ends_unknown_audited(tmp_path: Path) -> None:
    store = Store(tmp_path / "gw.db")
    book = JobBook(store)
    job = book.request("J" + "c" * 32, "T1", "wipe", "handed back", "os:alice", "os:alice", 0)
    job = book.check_approval(job.id, "os:bob", "os:bob", 1000) or job
    book.approve(job, "os:bob", "os:bob", 1000, b"envelope", 5000)
    assert book.mark(job.id, "T1", "in_progress", "", 2000)  # then the agent is killed

    assert book.time_out(5000 + FINISH_WITHIN_MS - 1) == []
    assert [j.id for j in book.time_out(5000 + FINISH_WITHIN_MS)] == [job.id]

    ended = book.get(job.id)
    assert ended is not None and ended.state == "unknown" and "timed out" in ended.detail
    entries = [e for e in store.audit_entries() if e.action == "wipe_unknown"]
    assert [(e.actor, e.target) for e in entries] == [("gateway", "device:T1")]
    assert book.time_out(10 * FINISH_WITHIN_MS) == []  # once
    assert not book.mark(job.id, "T1", "in_progress", "", 6000 + FINISH_WITHIN_MS)


def test_a_tablets_late_word_replaces_the_gateways_unknown(tmp_path: Path) -> None:
    store = Store(tmp_path / "gw.db")
    book = JobBook(store)
    job = book.request("J" + "d" * 32, "T1", "wipe", "handed back", "os:alice", "os:alice", 0)
    job = book.check_approval(job.id, "os:bob", "os:bob", 1000) or job
    book.approve(job, "os:bob", "os:bob", 1000, b"envelope", 5000)
    book.mark(job.id, "T1", "received", "", 2000)
    book.time_out(5000 + FINISH_WITHIN_MS)

    assert book.mark(job.id, "T1", "succeeded", "", 6000 + FINISH_WITHIN_MS)
    assert book.get(job.id).state == "succeeded"  # type: ignore[union-attr]
    assert not book.mark(job.id, "T1", "failed", "", 7000 + FINISH_WITHIN_MS)  # final now


@needs_root
async def test_a_wiped_tablet_is_given_its_occupants_requests_again(
    wing: tuple[Gateway, AgentProcess, Path], broker: WingBroker, make_account: MakeAccount,
    staff_group: str
) -> None:
    """John lives in C1 (T1, the agent, and T2); his request written on T2 is copied to T1. A
    wipe erases T1's copy; the gateway then sends it again (docs/prisoners.md)."""
    gateway, agent, _shell = wing
    added = await gateway.acli("prisoner", "add", "A1234BC", "--name", "John Smith",
                                 "--cell", "C1")
    assert added.returncode == 0, added.stderr
    request = Request(id=uuid.uuid4().hex, type="general", text="John's, from T2",
                      created=int(time.time() * 1000), person="A1234BC")
    async with TabletPeer(broker.host, broker.port, "T2", gateway.wing, gateway.trusted_keys,
                          tls=broker.context(broker.tablet_tls("T2"))) as t2:
        await t2.publish(TabletChannel.REQUEST, request.model_dump_json().encode())
        await asyncio.to_thread(agent.wait_for, lambda _s: kept(agent) == {request.id}, 60)
        alice, bob = make_account(staff_group), make_account(staff_group)
        asked = await asyncio.to_thread(run, alice, gateway, "wipe", "--device", "T1",
                                        "--reason", "handed back")
        await asyncio.to_thread(run, bob, gateway, "wipe", "approve", asked["id"])
        await asyncio.to_thread(wait_state, gateway, asked["id"], "succeeded")

        await asyncio.to_thread(agent.wait_for, lambda _s: kept(agent) == {request.id}, 60)


def kept(agent: AgentProcess) -> set[str]:
    """The ids of the requests the agent keeps (none if its outbox is not there)."""
    try:
        with sqlite3.connect(f"file:{agent.state_dir / 'requests.db'}?mode=ro", uri=True) as db:
            return {row[0] for row in db.execute("SELECT id FROM requests")}
    except sqlite3.Error:
        return set()
