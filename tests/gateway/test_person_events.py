"""What a tablet learns of a person comes back on `tablet/{id}/person`: applied once by the
event's id, refused (and audited) when it names someone who does not live in the tablet's cell or
an older PIN epoch (docs/prisoners.md). Real gateway process, real broker, tablet peers."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest
from argon2 import PasswordHasher

from tests.gateway.tablet_peer import TabletPeer, now_ms
from tests.support.gateway import Gateway
from wire.prisoners import PersonEvent, Settings
from wire.topics import TabletChannel

pytestmark = pytest.mark.timeout(120)

PIN_VERIFIER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("135790")


def event(kind: str, person: str = "A1234BC", **fields: Any) -> PersonEvent:
    return PersonEvent(id=uuid.uuid4().hex, kind=kind, person=person, at=now_ms(),  # type: ignore[arg-type]
                       **fields)


async def send(tablet: TabletPeer, *events: PersonEvent) -> None:
    for sent in events:
        await tablet.publish(TabletChannel.PERSON, sent.model_dump_json().encode())


def record(gateway: Gateway, number: str = "A1234BC") -> dict[str, Any]:
    return gateway.staff_json("prisoner", "show", number)


def audit(gateway: Gateway, prefix: str) -> list[dict[str, Any]]:
    return [e for e in gateway.staff_json("audit")["entries"] if e["action"].startswith(prefix)]


async def admitted(gateway: Gateway) -> None:
    for args in (("add", "A1234BC", "--name", "John Smith", "--cell", "C1"),
                 ("add", "B2345CD", "--name", "Adam Nowak", "--cell", "C2"),
                 ("reset-pin", "A1234BC")):
        result = await gateway.acli("prisoner", *args)
        assert result.returncode == 0, result.stderr


async def test_a_pin_set_twice_with_one_id_is_applied_once_and_reaches_the_cells_tablets(
        gateway, peer) -> None:
    await admitted(gateway)
    async with peer("T1", answer=False) as t1, peer("T2", answer=False) as t2:
        pin_set = event("pin_set", pin_epoch=1, verifier=PIN_VERIFIER)
        await send(t1, pin_set, pin_set)
        await t2.wait_until(lambda: bool(t2.desired and t2.desired.occupants.people[0]
                                         .credential == "pin"))
        assert t2.desired is not None
        assert t2.desired.occupants.people[0].verifier == PIN_VERIFIER
    assert record(gateway)["credential"] == "pin"
    assert [e["detail"]["event"] for e in audit(gateway, "person_pin_set")] == [pin_set.id]


async def test_an_event_naming_someone_from_another_cell_is_refused_and_audited(
        gateway, peer) -> None:
    await admitted(gateway)
    async with peer("T3", answer=False) as t3:  # cell C2: A1234BC lives in C1
        await send(t3, event("pin_set", pin_epoch=1, verifier=PIN_VERIFIER),
                   event("signed_in", person="B2345CD"))
    # Events of one tablet are handled in order: once the later one shows, the first was seen.
    assert await eventually(lambda: record(gateway, "B2345CD")["signed_in_on"] == ["T3"])
    refused = audit(gateway, "invalid_message")
    assert [(e["target"], e["detail"]["channel"]) for e in refused] == [("device:T3", "person")]
    assert refused[0]["detail"]["reason"].startswith("not_occupant: A1234BC")
    assert record(gateway)["credential"] == "one_time"


async def test_a_pin_event_of_an_older_epoch_is_refused(gateway, peer) -> None:
    await admitted(gateway)
    async with peer("T1", answer=False) as t1:
        await send(t1, event("pin_set", pin_epoch=0, verifier=PIN_VERIFIER))
        await send(t1, event("signed_in"))
    assert await eventually(lambda: record(gateway)["signed_in_on"] == ["T1"])
    [refused] = audit(gateway, "invalid_message")
    assert refused["detail"]["reason"].startswith("stale_epoch")
    assert record(gateway)["credential"] == "one_time"


async def test_five_wrong_pins_lock_the_person_out_on_every_tablet_until_staff_reset(
        gateway, peer) -> None:
    await admitted(gateway)
    async with peer("T2", answer=False) as t2:
        await send(t2, *(event("pin_failed", pin_epoch=1, attempts=n) for n in range(1, 6)))
        await t2.wait_until(lambda: bool(t2.desired and t2.desired.occupants.people[0]
                                         .locked_out))
        reset = await gateway.acli("prisoner", "reset-pin", "A1234BC", "--json")
        assert reset.returncode == 0, reset.stderr
        await t2.wait_until(lambda: bool(t2.desired and not t2.desired.occupants.people[0]
                                         .locked_out))
        assert t2.desired is not None and t2.desired.occupants.people[0].pin_epoch == 2
    shown = record(gateway)
    assert (shown["locked_out"], shown["failed"], shown["pin_epoch"]) == (False, 0, 2)


async def test_settings_and_lessons_follow_the_person_to_their_next_cell(gateway, peer) -> None:
    await admitted(gateway)
    async with peer("T1", answer=False) as t1, peer("T3", answer=False) as t3:
        await send(t1, event("settings", settings=Settings(language="pl", text_scale=150)),
                   event("lesson", lesson="reading-1", lesson_state={"step": 4, "done": False}))
        assert await eventually(lambda: record(gateway)["lessons"] != {})
        moved = await gateway.acli("prisoner", "move", "A1234BC", "--cell", "C2")
        assert moved.returncode == 0, moved.stderr
        await t3.wait_until(lambda: bool(t3.desired and len(t3.desired.occupants.people) == 2))
    assert t3.desired is not None
    person = {p.number: p for p in t3.desired.occupants.people}["A1234BC"]
    assert (person.settings.language, person.settings.text_scale) == ("pl", 150)
    assert person.lessons["reading-1"].step == 4


CHANGED = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("246801")
"""The verifier of a PIN the person changed to on a tablet (`change_pin`)."""


def carried(tablet: TabletPeer, number: str = "A1234BC") -> str | None:
    """The verifier `tablet`'s desired state carries for `number` (None: not an occupant)."""
    people = {p.number: p for p in tablet.desired.occupants.people} if tablet.desired else {}
    return people[number].verifier if number in people else None


async def test_a_changed_pin_reaches_the_cells_other_tablet_and_follows_a_move(
        gateway, peer) -> None:
    await admitted(gateway)
    async with peer("T1", answer=False) as t1, peer("T2", answer=False) as t2, \
            peer("T3", answer=False) as t3:
        first = event("pin_set", pin_epoch=1, verifier=PIN_VERIFIER)
        await send(t1, first)
        await t2.wait_until(lambda: carried(t2) == PIN_VERIFIER)
        await send(t1, event("pin_set", pin_epoch=1, verifier=CHANGED))
        await t2.wait_until(lambda: carried(t2) == CHANGED)

        moved = await gateway.acli("prisoner", "move", "A1234BC", "--cell", "C2")
        assert moved.returncode == 0, moved.stderr

        await t3.wait_until(lambda: carried(t3) == CHANGED)
        await t1.wait_until(lambda: carried(t1) is None)
    assert record(gateway)["credential"] == "pin"
    assert "argon2" not in json.dumps(gateway.staff_json("audit")["entries"])


async def test_a_pin_changed_before_a_move_and_delivered_after_it_follows_the_person(
        gateway, peer) -> None:
    await admitted(gateway)
    async with peer("T1", answer=False) as t1, peer("T3", answer=False) as t3:
        first = event("pin_set", pin_epoch=1, verifier=PIN_VERIFIER)
        await send(t1, first)
        assert await eventually(lambda: record(gateway)["credential"] == "pin")
        moved = await gateway.acli("prisoner", "move", "A1234BC", "--cell", "C2")
        assert moved.returncode == 0, moved.stderr
        # Changed on T1 before the move, queued there while it was offline.
        await send(t1, event("pin_set", pin_epoch=1, verifier=CHANGED).model_copy(
            update={"at": first.at + 1}))
        await t3.wait_until(lambda: carried(t3) == CHANGED)
        assert carried(t1) is None


async def test_a_pin_chosen_earlier_but_delivered_later_does_not_replace_a_newer_one(
        gateway, peer) -> None:
    await admitted(gateway)
    async with peer("T1", answer=False) as t1, peer("T2", answer=False) as t2:
        older = event("pin_set", pin_epoch=1, verifier=PIN_VERIFIER)
        newer = event("pin_set", pin_epoch=1, verifier=CHANGED).model_copy(
            update={"at": older.at + 60_000})
        await send(t2, newer)
        await t1.wait_until(lambda: carried(t1) == CHANGED)
        await send(t1, older, event("signed_in"))  # T1 was offline since before the change
        assert await eventually(lambda: record(gateway)["signed_in_on"] == ["T1"])
        assert carried(t1) == CHANGED
    late = [e for e in audit(gateway, "person_pin_set") if e["detail"]["event"] == older.id]
    assert [e["detail"].get("superseded") for e in late] == ["a PIN chosen later is kept"]


async def eventually(predicate: Any, timeout: float = 30.0) -> bool:
    """Poll a staff command (run in this process) until it says what is expected, the event loop
    serving the tablet peers between polls."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True

