"""Prisoner accounts at the gateway: each cell's tablets are told the cell's occupants (and only
them) in their signed desired state, and every change of the records re-issues exactly the
tablets it concerns (docs/prisoners.md). Real gateway process, real broker, tablet peers."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from argon2 import PasswordHasher

from gateway.prisoner_book import Prisoner, PrisonerBook
from gateway.store import Store
from tests.gateway.tablet_peer import TabletPeer, now_ms
from tests.support.gateway import Gateway
from wire import topics
from wire.prisoners import LessonState, PersonEvent, Settings
from wire.topics import TabletChannel

pytestmark = pytest.mark.timeout(60)

CELLS = {"T1": "C1", "T2": "C1", "T3": "C2"}


def numbers(tablet: TabletPeer) -> tuple[str, ...]:
    if tablet.desired is None:
        return ()
    return tuple(p.number for p in tablet.desired.occupants.people)


async def staff(gateway: Gateway, *args: str) -> Any:
    result = await gateway.astaff("prisoner", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def settle(tablets: dict[str, TabletPeer], wanted: dict[str, tuple[str, ...]]) -> None:
    for device, tablet in tablets.items():
        def arrived(t: TabletPeer = tablet, d: str = device) -> bool:
            return t.desired is not None and numbers(t) == wanted[d]

        await tablet.wait_until(arrived)


async def test_a_person_added_to_a_cell_is_told_to_that_cells_tablets_and_no_other(
        gateway, peer) -> None:
    async with peer("T1") as t1, peer("T2") as t2, peer("T3") as t3:
        tablets = {"T1": t1, "T2": t2, "T3": t3}
        await settle(tablets, {"T1": (), "T2": (), "T3": ()})
        await staff(gateway, "add", "A1234BC", "--name", "John Smith", "--cell", "C1")
        await settle(tablets, {"T1": ("A1234BC",), "T2": ("A1234BC",), "T3": ()})
        assert t1.desired is not None
        [person] = t1.desired.occupants.people
        assert (person.display, person.verifier, person.credential) == ("John S.", None,
                                                                        "one_time")


async def test_a_move_takes_the_person_off_the_old_cells_tablets_and_onto_the_new_ones(
        gateway, peer) -> None:
    async with peer("T1") as t1, peer("T3") as t3:
        await staff(gateway, "add", "A1234BC", "--name", "John Smith", "--cell", "C1")
        await settle({"T1": t1, "T3": t3}, {"T1": ("A1234BC",), "T3": ()})
        moved = await staff(gateway, "move", "A1234BC", "--cell", "C2")
        assert (moved["status"], moved["cell"]) == ("in_cell", "C2")
        await settle({"T1": t1, "T3": t3}, {"T1": (), "T3": ("A1234BC",)})


async def test_a_tablet_offline_during_a_move_gets_the_new_occupants_when_it_comes_back(
        gateway, peer) -> None:
    async with peer("T3") as t3:
        await settle({"T3": t3}, {"T3": ()})
    await staff(gateway, "add", "A1234BC", "--name", "John Smith", "--cell", "C1")
    await staff(gateway, "move", "A1234BC", "--cell", "C2")  # T3 is offline meanwhile
    async with peer("T3", answer=False) as t3:
        await t3.birth("boot-2")
        await settle({"T3": t3}, {"T3": ("A1234BC",)})
        # Besides the retained copy, the gateway sends it again when the tablet is born.
        desired = topics.tablet("T3", TabletChannel.DESIRED)
        await t3.wait_until(lambda: any(not r.retain for r in t3.on(desired)))
        assert t3.desired is not None and t3.desired.lock.locked is False


async def test_release_and_transfer_take_the_person_off_every_tablet_and_keep_the_record(
        gateway, peer) -> None:
    async with peer("T1") as t1, peer("T3") as t3:
        await staff(gateway, "add", "A1234BC", "--name", "John Smith", "--cell", "C1")
        await staff(gateway, "add", "B2345CD", "--name", "Adam Nowak", "--cell", "C2",
                    "--language", "pl")
        await settle({"T1": t1, "T3": t3}, {"T1": ("A1234BC",), "T3": ("B2345CD",)})
        released = await staff(gateway, "release", "A1234BC", "--reason", "sentence served")
        transferred = await staff(gateway, "transfer", "B2345CD", "--reason", "to HMP X")
        await settle({"T1": t1, "T3": t3}, {"T1": (), "T3": ()})
    assert (released["status"], transferred["status"]) == ("released", "transferred")
    kept = {p["number"]: p["status"] for p in await staff(gateway, "list")}
    assert kept == {"A1234BC": "released", "B2345CD": "transferred"}


async def test_a_person_released_and_readmitted_is_told_to_their_new_cell_without_a_credential(
        gateway, peer) -> None:
    async with peer("T1") as t1, peer("T3") as t3:
        await staff(gateway, "add", "A1234BC", "--name", "John Smith", "--cell", "C1")
        await staff(gateway, "reset-pin", "A1234BC")
        await staff(gateway, "release", "A1234BC")
        again = await staff(gateway, "add", "A1234BC", "--name", "John Smith", "--cell", "C2")
        await settle({"T1": t1, "T3": t3}, {"T1": (), "T3": ("A1234BC",)})
        assert t3.desired is not None
        [person] = t3.desired.occupants.people
        assert person.verifier is None
        assert person.pin_epoch == again["pin_epoch"] == 3  # reset, release, re-admit
    actions = [e["action"] for e in gateway.staff_json("audit")["entries"]
               if e["target"] == "prisoner:A1234BC"]
    assert actions == ["prisoner_add", "prisoner_reset_pin", "prisoner_release",
                       "prisoner_readmit"]


async def test_reset_pin_shows_a_one_time_code_once_whose_hash_the_cells_tablets_get(
        gateway, peer) -> None:
    async with peer("T1") as t1:
        await staff(gateway, "add", "A1234BC", "--name", "John Smith", "--cell", "C1")
        reset = await staff(gateway, "reset-pin", "A1234BC")
        await t1.wait_until(lambda: bool(t1.desired and t1.desired.occupants.people
                                         and t1.desired.occupants.people[0].verifier))
    assert t1.desired is not None
    [person] = t1.desired.occupants.people
    assert reset["code"].isdigit() and len(reset["code"]) == 8
    assert PasswordHasher().verify(person.verifier or "", reset["code"])
    assert (person.credential, person.pin_epoch, person.locked_out) == ("one_time", 1, False)
    shown = await staff(gateway, "show", "A1234BC")
    assert "code" not in shown and reset["code"] not in json.dumps(shown)
    audit = json.dumps(gateway.staff_json("audit")["entries"])
    assert reset["code"] not in audit and "argon2" not in audit


async def test_a_lock_keeps_the_cells_occupants_in_the_desired_state(gateway, peer) -> None:
    async with peer("T1") as t1:
        await staff(gateway, "add", "A1234BC", "--name", "John Smith", "--cell", "C1")
        await settle({"T1": t1}, {"T1": ("A1234BC",)})
        result = await gateway.astaff("lock", "--device", "T1", "--reason", "search")
        assert result.returncode == 0, result.stderr
        await t1.wait_until(lambda: bool(t1.desired and t1.desired.lock.locked))
        assert numbers(t1) == ("A1234BC",)


def test_staff_are_refused_a_fifth_occupant_a_bad_number_and_an_unknown_person(
        gateway) -> None:
    for n, number in enumerate(("A1000AA", "A1000AB", "A1000AC", "A1000AD")):
        assert gateway.staff("prisoner", "add", number, "--name", f"P {n}", "--cell",
                             "C1").returncode == 0
    fifth = gateway.staff("prisoner", "add", "A1000AE", "--name", "P 5", "--cell", "C1")
    assert fifth.returncode == 2 and "already has 4 occupants" in fifth.stderr
    bad = gateway.staff("prisoner", "add", "12345", "--name", "P", "--cell", "C1")
    assert bad.returncode == 2 and "number" in bad.stderr
    unknown = gateway.staff("prisoner", "move", "Z9999ZZ", "--cell", "C2")
    assert unknown.returncode == 2 and "no prisoner Z9999ZZ" in unknown.stderr


async def test_a_record_written_before_a_stop_reaches_the_tablets_when_the_gateway_starts(
        gateway, peer) -> None:
    # As if the gateway stopped between writing a record and re-issuing the tablets' states.
    gateway.stop()
    store = Store(gateway.state_dir / "gateway.db")
    PrisonerBook(store).add(Prisoner("A1234BC", "John Smith", cell="C2"), "staff:test", 1)
    store.close()
    gateway.start()
    async with peer("T3", answer=False) as t3:
        await settle({"T3": t3}, {"T3": ("A1234BC",)})


# -- the lifecycle table: each step leaves the person's data on the right tablets only ----------

PIN = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash("135790")
LIFECYCLE = {
    # step: (tablets carrying the person afterwards, whether their PIN comes with them)
    "add": ({"T1", "T2"}, True),
    "move": ({"T3"}, True),
    "move_while_offline": ({"T3"}, True),
    "transfer": (set(), False),
    "release": (set(), False),
    "readmit": ({"T3"}, False),
}


async def person_with_data(gateway: Gateway, t1: TabletPeer, t2: TabletPeer) -> None:
    """John in C1 with a PIN of his own, settings and a lesson step, on both of C1's tablets."""
    await staff(gateway, "add", "A1234BC", "--name", "John Smith", "--cell", "C1")
    await staff(gateway, "reset-pin", "A1234BC")
    for kind, fields in (("pin_set", {"pin_epoch": 1, "verifier": PIN}),
                         ("settings", {"settings": Settings(language="pl", text_scale=150)}),
                         ("lesson", {"lesson": "typing", "lesson_state": LessonState(step=4)})):
        sent = PersonEvent(id=uuid.uuid4().hex, kind=kind, person="A1234BC",  # type: ignore[arg-type]
                           at=now_ms(), **fields)
        await t1.publish(TabletChannel.PERSON, sent.model_dump_json().encode())
    for tablet in (t1, t2):
        await tablet.wait_until(lambda t=tablet: bool(  # type: ignore[misc]
            t.desired and t.desired.occupants.people
            and t.desired.occupants.people[0].verifier == PIN
            and "typing" in t.desired.occupants.people[0].lessons))


@pytest.mark.timeout(120)  # a gateway, three tablets and five person events per row
@pytest.mark.parametrize("step", list(LIFECYCLE))
async def test_the_lifecycle_leaves_the_persons_data_on_the_right_tablets_and_nowhere_else(
        gateway, peer, step: str) -> None:
    async with peer("T1") as t1, peer("T2") as t2:
        await person_with_data(gateway, t1, t2)
        if step == "move_while_offline":  # T3 is not connected during the move
            await staff(gateway, "move", "A1234BC", "--cell", "C2")
        # After a move while offline, T3 comes back and is born, as the agent does on connect.
        async with peer("T3", answer=step != "move_while_offline") as t3:
            if step == "move_while_offline":
                await t3.birth("boot-2")
            elif step == "move":
                await staff(gateway, "move", "A1234BC", "--cell", "C2")
            elif step in ("transfer", "release"):
                await staff(gateway, step, "A1234BC")
            elif step == "readmit":
                await staff(gateway, "release", "A1234BC")
                await staff(gateway, "add", "A1234BC", "--name", "John Smith", "--cell", "C2")
            tablets = {"T1": t1, "T2": t2, "T3": t3}
            carrying, with_pin = LIFECYCLE[step]
            await settle(tablets, {d: ("A1234BC",) if d in carrying else () for d in tablets})
    for device, tablet in tablets.items():
        assert tablet.desired is not None
        if device not in carrying:  # not a trace of them: number, PIN, settings or lessons
            shown = tablet.desired.model_dump_json()
            assert "A1234BC" not in shown and PIN not in shown and "typing" not in shown
            continue
        [person] = tablet.desired.occupants.people
        assert person.verifier == (PIN if with_pin else None)
        assert (person.settings.language, person.lessons["typing"].step) == ("pl", 4)
