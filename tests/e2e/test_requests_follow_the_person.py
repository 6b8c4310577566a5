"""A person's requests and staff's replies follow the person, not the tablet (issue 16;
docs/prisoners.md, "What follows the person"): the real gateway, broker, agent processes and staff
CLI of a wing. T-0001 is the tablet of cell 1-01, T-0002 of cell 1-02; John lives in 1-01 and
Anna in 1-02, each with a PIN of their own, until staff move John to 1-02."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.agents import AgentProcess
from tests.support.requests import person, submit
from tests.support.wing import Wing
from tests.web.support import open_all_day_policy
from wire.localapi import SetPinRequest, ShellState, SignInRequest, SignOutRequest

pytestmark = pytest.mark.timeout(240)

JOHN, ANNA = "A1234BC", "B2345CD"
PINS = {JOHN: "482913", ANNA: "771203"}
TABLET_OF = {"1-01": "T-0001", "1-02": "T-0002"}


def staff_json(wing: Wing, *args: str) -> Any:
    result = wing.staff(*args, "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout)


def eventually(condition: Callable[[], object], what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.2)


def caught_up(wing: Wing, tablet: str) -> None:
    """Wait until `tablet` reported applying its latest desired state (its occupants)."""
    def applied() -> bool:
        [row] = [t for t in staff_json(wing, "status")["tablets"] if t["id"] == tablet]
        return (row["desired"]["reported_version"] or 0) >= row["desired"]["version"]

    eventually(applied, f"{tablet} applies its desired state")


def sign_in(wing: Wing, agent: AgentProcess, tablet: str, number: str) -> None:
    caught_up(wing, tablet)
    reply = person(agent.socket_path, SignInRequest(op="sign_in", number=number,
                                                    pin=PINS[number]))
    assert reply.outcome == "ok", reply


def sign_out(agent: AgentProcess) -> None:
    assert person(agent.socket_path, SignOutRequest(op="sign_out")).outcome == "ok"


def sign_up(wing: Wing, agent: AgentProcess, tablet: str, number: str) -> None:
    """Staff issue a one-time code; the person signs in with it and chooses their PIN, which
    reaches the gateway (so it follows them)."""
    code = staff_json(wing, "prisoner", "reset-pin", number)["code"]
    caught_up(wing, tablet)
    first = person(agent.socket_path, SignInRequest(op="sign_in", number=number, pin=code))
    assert first.outcome == "must_set_pin", first
    chosen = person(agent.socket_path, SetPinRequest(op="set_pin", pin=PINS[number]))
    assert chosen.outcome == "ok", chosen
    sign_out(agent)
    eventually(lambda: staff_json(wing, "prisoner", "show", number)["credential"] == "pin",
               f"the gateway has {number}'s PIN")


def move(wing: Wing, number: str, cell: str) -> None:
    moved = staff_json(wing, "prisoner", "move", number, "--cell", cell)
    assert (moved["status"], moved["cell"]) == ("in_cell", cell)


def reply(wing: Wing, request_id: str, text: str) -> None:
    result = wing.staff("requests", "reply", request_id, "--text", text, "--by", "officer.b")
    assert result.returncode == 0, result.stdout + result.stderr


def listed(wing: Wing, request_id: str) -> dict[str, Any]:
    return eventually(lambda: next((r for r in staff_json(wing, "requests", "list")
                                    if r["id"] == request_id), None),
                      f"staff see request {request_id}")


def kept(agent: AgentProcess, request_id: str) -> set[tuple[str, str | None]]:
    """(text, person) of the request as the tablet keeps it (empty: not at all)."""
    with sqlite3.connect(agent.state_dir / "requests.db") as db:
        return set(db.execute("SELECT text, person FROM requests WHERE id = ?", [request_id]))


def answered(request_id: str) -> Callable[[ShellState], bool]:
    return lambda s: any(r.id == request_id and r.status == "answered" for r in s.requests)


@pytest.fixture
def cells(make_wing: Callable[[int], Wing], tmp_path: Path
          ) -> Iterator[tuple[Wing, AgentProcess, AgentProcess]]:
    """The wing, T-0001 (John's cell) and T-0002 (Anna's), both people with their PINs."""
    wing = make_wing(2)
    a, b = wing.start_agents("T-0001", "T-0002")
    applied = wing.staff("policy", "apply", str(open_all_day_policy(tmp_path / "wing.toml")))
    assert applied.returncode == 0, applied.stdout + applied.stderr
    for agent in (a, b):
        agent.wait_for(lambda s: s.curfew.state == "open", timeout=60)
    for number, name, cell in ((JOHN, "John Smith", "1-01"), (ANNA, "Anna Kowalska", "1-02")):
        staff_json(wing, "prisoner", "add", number, "--name", name, "--cell", cell)
    sign_up(wing, a, "T-0001", JOHN)
    sign_up(wing, b, "T-0002", ANNA)
    yield wing, a, b


def test_a_persons_request_and_its_reply_follow_them_to_their_new_cells_tablet(cells) -> None:
    wing, a, b = cells
    sign_in(wing, a, "T-0001", JOHN)
    saved = submit(a.socket_path, "visits", "Can my sister visit on Saturday?")
    assert saved.ok
    listed(wing, saved.id)
    reply(wing, saved.id, "Yes, 2pm")
    a.wait_for(answered(saved.id), timeout=60)
    sign_out(a)

    move(wing, JOHN, "1-02")

    eventually(lambda: not kept(a, saved.id), "the old cell's tablet forgets John's request")
    sign_in(wing, b, "T-0002", JOHN)
    state = b.wait_for(answered(saved.id), timeout=60)
    [shown] = [r for r in state.requests if r.id == saved.id]
    assert (shown.text, shown.reply) == ("Can my sister visit on Saturday?", "Yes, 2pm")
    assert kept(b, saved.id) == {("Can my sister visit on Saturday?", JOHN)}


def test_a_reply_written_after_a_move_reaches_the_writer_on_the_new_cells_tablet(cells) -> None:
    wing, a, b = cells
    sign_in(wing, a, "T-0001", JOHN)
    saved = submit(a.socket_path, "healthcare", "I need to see the nurse")
    a.wait_for(lambda s: s.requests[0].status == "delivered", timeout=60)
    sign_out(a)
    move(wing, JOHN, "1-02")
    eventually(lambda: not kept(a, saved.id), "the old cell's tablet forgets John's request")

    reply(wing, saved.id, "Nurse on Monday")

    sign_in(wing, b, "T-0002", JOHN)
    state = b.wait_for(answered(saved.id), timeout=60)
    assert next(r.reply for r in state.requests if r.id == saved.id) == "Nurse on Monday"
    eventually(lambda: listed(wing, saved.id)["reply_delivered"], "staff see it delivered")
    assert not kept(a, saved.id)


def test_a_request_written_offline_before_a_move_arrives_as_its_writers_and_its_reply_follows(
        cells) -> None:
    wing, a, b = cells
    sign_in(wing, a, "T-0001", JOHN)
    wing.broker.stop()
    a.wait_for(lambda s: not s.connected, timeout=30)
    saved = submit(a.socket_path, "canteen", "Written with the wing unreachable")
    assert saved.ok
    a.stop()  # the tablet is off while John is moved
    wing.broker.start()
    move(wing, JOHN, "1-02")
    a.start(wait=False)

    row = listed(wing, saved.id)
    assert (row["person"], row["device"], row["text"]) == (
        JOHN, "T-0001", "Written with the wing unreachable")
    reply(wing, saved.id, "Canteen sheet on Friday")
    sign_in(wing, b, "T-0002", JOHN)
    state = b.wait_for(answered(saved.id), timeout=60)
    assert next(r.reply for r in state.requests if r.id == saved.id) == "Canteen sheet on Friday"
    eventually(lambda: not kept(a, saved.id), "the old cell's tablet drops it once delivered")
    assert len([r for r in staff_json(wing, "requests", "list") if r["id"] == saved.id]) == 1


def test_the_other_occupant_of_the_new_cell_sees_none_of_the_movers_requests(cells) -> None:
    wing, a, b = cells
    sign_in(wing, a, "T-0001", JOHN)
    saved = submit(a.socket_path, "general", "John's own request")
    listed(wing, saved.id)
    reply(wing, saved.id, "For John only")
    a.wait_for(answered(saved.id), timeout=60)
    sign_out(a)
    move(wing, JOHN, "1-02")
    sign_in(wing, b, "T-0002", JOHN)
    b.wait_for(answered(saved.id), timeout=60)  # the tablet holds it...
    sign_out(b)

    sign_in(wing, b, "T-0002", ANNA)

    state = b.wait_for(lambda s: s.person is not None and s.person.number == ANNA)
    assert not any(r.id == saved.id or "John" in r.text for r in state.requests)
    assert kept(b, saved.id) == {("John's own request", JOHN)}  # ...as John's, not hers
