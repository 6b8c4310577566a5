"""A signed-in person changes their PIN on the tablet (docs/prisoners-tablet.md): the agent checks
the current one like a sign-in, hashes the new one with the verifier's own argon2id parameters,
keeps it at once (it works with the wing unreachable) and sends it once in a `pin_set` event; the
tablet's copy gives way when the gateway's desired state catches up. In-process agents on the
real broker."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from argon2 import PasswordHasher, extract_parameters

from tests.agent.test_people import (  # noqa: F401 (cell, gateway, ...: fixtures)
    CHEAP,
    DEVICE,
    JOHN,
    Cell,
    Clocks,
    cell,
    gateway,
    make_config,
    observed,
    occupant,
    open_cell,
    person_events,
)
from tests.support.agents import wait_until
from tests.support.broker import WingBroker
from wire.localapi import ChangePinRequest, PersonReply, SignOutRequest
from wire.prisoners import MAX_ATTEMPTS, Occupant

pytestmark = pytest.mark.timeout(120)

OLD, NEW, LATER = "482913", "615243", "908172"


def john(pin: str = OLD) -> Occupant:
    return occupant(JOHN, "John S.", pin, credential="pin")


async def change(tablet: Cell, old: str, new: str) -> PersonReply:
    reply = await tablet.ask(ChangePinRequest(op="change_pin", old=old, pin=new))
    assert isinstance(reply, PersonReply) and reply.op == "change_pin"
    return reply


async def signs_in(tablet: Cell, pin: str) -> str:
    """The outcome of a sign-in with `pin`, signed out again afterwards."""
    outcome = (await tablet.sign_in(JOHN, pin)).outcome
    await tablet.ask(SignOutRequest(op="sign_out"))
    return outcome


def kept_pins(tablet: Cell) -> list[str]:
    with sqlite3.connect(tablet.agent.config.state_dir / "people.db") as db:
        return [row[0] for row in db.execute("SELECT person FROM pins")]


async def test_a_pin_changed_offline_works_at_once_and_reaches_the_gateway_once(
    tmp_path: Path, broker: WingBroker, gateway: aiomqtt.Client  # noqa: F811
) -> None:
    config, clocks = make_config(tmp_path, broker), Clocks()
    cell, task = await open_cell(config, gateway, clocks)  # noqa: F811
    await cell.desired(john())
    broker.kill()
    await wait_until(lambda: not cell.agent.connected)
    await cell.sign_in(JOHN, OLD)

    assert (await change(cell, OLD, NEW)).outcome == "ok"

    assert cell.state.person is not None and cell.state.person.number == JOHN  # still signed in
    await cell.ask(SignOutRequest(op="sign_out"))
    assert await signs_in(cell, OLD) == "wrong"
    assert await signs_in(cell, NEW) == "ok"
    task.cancel()  # the tablet is off until the wing is back
    await asyncio.gather(task, return_exceptions=True)
    broker.start()
    async with aiomqtt.Client(broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5,
                              tls_context=broker.context(broker.gateway_tls())) as wing:
        await wing.subscribe(f"tablet/{DEVICE}/person", qos=1)
        cell, task = await open_cell(config, wing, clocks)
        events: list[dict[str, Any]] = []
        try:
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(3):  # everything queued, and nothing twice
                    async for message in wing.messages:
                        events.append(json.loads(bytes(message.payload)))  # type: ignore[arg-type]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    [pin_set] = [e for e in events if e["kind"] == "pin_set"]
    assert (pin_set["person"], pin_set["pin_epoch"]) == (JOHN, 0)
    assert PasswordHasher().verify(pin_set["verifier"], NEW)
    assert extract_parameters(pin_set["verifier"]) == CHEAP._parameters
    assert OLD not in json.dumps(events) and NEW not in json.dumps(events)


async def test_a_wrong_current_pin_counts_towards_the_lock_out_which_ends_the_session(
        cell: Cell) -> None:  # noqa: F811
    await cell.desired(john())
    await cell.sign_in(JOHN, OLD)
    wrong = await change(cell, "111222", NEW)
    assert (wrong.outcome, wrong.attempts_left) == ("wrong", MAX_ATTEMPTS - 1)

    replies = [await change(cell, "111222", NEW) for _ in range(MAX_ATTEMPTS - 1)]

    assert replies[-1].outcome == "locked_out"
    await wait_until(lambda: cell.state.person is None)
    assert (await cell.sign_in(JOHN, OLD)).outcome == "locked_out"


@pytest.mark.parametrize(("new", "reason"), [
    ("11111111", "a PIN cannot be one digit repeated"),
    ("12345", "a PIN has 6 to 12 digits"),
    (OLD, "the new PIN is the same as the old one"),
])
async def test_a_new_pin_breaking_a_rule_is_refused_and_the_old_one_stays(
        cell: Cell, new: str, reason: str) -> None:  # noqa: F811
    await cell.desired(john())
    await cell.sign_in(JOHN, OLD)

    refused = await change(cell, OLD, new)

    assert (refused.outcome, refused.reason) == ("refused", reason)
    await cell.ask(SignOutRequest(op="sign_out"))
    assert await signs_in(cell, OLD) == "ok"


async def test_nobody_signed_in_cannot_change_a_pin(cell: Cell) -> None:  # noqa: F811
    await cell.desired(john())
    refused = await change(cell, OLD, NEW)
    assert refused.outcome == "refused"
    assert await signs_in(cell, OLD) == "ok"


async def sent_verifiers(events: list[dict[str, Any]], count: int) -> list[str]:
    """The verifiers of the first `count` pin_set events the tablet sent (what the gateway
    would carry back in the desired state)."""
    await wait_until(lambda: len([e for e in events if e["kind"] == "pin_set"]) >= count)
    return [e["verifier"] for e in events if e["kind"] == "pin_set"][:count]


def echoed(verifier: str) -> Occupant:
    return john().model_copy(update={"verifier": verifier})


async def test_the_gateways_echo_replaces_the_tablets_copy_and_a_pin_set_elsewhere_wins(
        cell: Cell, person_events: list[dict[str, Any]]) -> None:  # noqa: F811
    await cell.desired(john())
    await cell.sign_in(JOHN, OLD)
    await change(cell, OLD, NEW)
    assert kept_pins(cell) == [JOHN]
    [sent] = await sent_verifiers(person_events, 1)

    await cell.desired(echoed(sent))  # the gateway carries it now

    await wait_until(lambda: kept_pins(cell) == [])
    assert await signs_in(cell, NEW) == "ok"
    await cell.desired(john(LATER))  # changed again on the cell's other tablet
    assert await signs_in(cell, NEW) == "wrong"
    assert await signs_in(cell, LATER) == "ok"


async def test_two_changes_before_the_gateway_catches_up_keep_the_latest(
        cell: Cell, person_events: list[dict[str, Any]]) -> None:  # noqa: F811
    await cell.desired(john())
    await cell.sign_in(JOHN, OLD)
    assert (await change(cell, OLD, NEW)).outcome == "ok"
    assert (await change(cell, NEW, LATER)).outcome == "ok"
    first, second = await sent_verifiers(person_events, 2)

    await cell.desired(echoed(first))  # the first change's echo, before the second's

    assert await signs_in(cell, LATER) == "ok"
    assert await signs_in(cell, NEW) == "wrong"
    assert kept_pins(cell) == [JOHN]
    await cell.desired(echoed(second))
    await wait_until(lambda: kept_pins(cell) == [])
    assert await signs_in(cell, LATER) == "ok"


def test_a_people_db_from_before_pin_changes_keeps_a_chosen_pin(tmp_path: Path) -> None:
    from agent.people import PeopleStore

    with sqlite3.connect(tmp_path / "people.db") as db:  # the table as it was
        db.execute("CREATE TABLE pins (person TEXT PRIMARY KEY, pin_epoch INTEGER NOT NULL,"
                   " verifier TEXT NOT NULL)")
        db.execute("INSERT INTO pins VALUES (?, 1, 'v1')", (JOHN,))
    store = PeopleStore(tmp_path / "people.db")
    try:
        chosen = store.chosen_pin(JOHN, 1)
        assert chosen is not None and (chosen.verifier, chosen.replaces) == ("v1", ())
    finally:
        store.close()
