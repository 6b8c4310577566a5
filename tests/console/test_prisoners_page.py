"""The prisoner pages (issue 16's console side) in-process, on a real gateway service and store:
who may see and who may change, add → move → reset PIN (the code shown once), release, the roll
import's preview, and a prisoner's name shown as text."""

from __future__ import annotations

import httpx

from common.staff_web.roles import Role
from gateway.console.web import Console
from tests.console.conftest import make_staff, sign_in

HEADER = "number,name,language,profile,cell,release_date\n"


async def add(client: httpx.AsyncClient, number: str, name: str, cell: str) -> httpx.Response:
    return await client.post("/prisoners.json", data={"number": number, "name": name,
                                                      "cell": cell})


async def test_an_officer_sees_the_prisoners_but_cannot_change_them(
        client: httpx.AsyncClient, console: Console) -> None:
    await sign_in(client, console, make_staff(console, "sam", Role.SECURITY))
    assert (await add(client, "A1234BC", "Jo Bloggs", "C1")).status_code == 200
    client.cookies.clear()
    del client.headers["x-csrf-token"]
    await sign_in(client, console, make_staff(console, "olly", Role.OFFICER))

    listed = (await client.get("/prisoners.json")).json()["people"]
    assert [p["number"] for p in listed] == ["A1234BC"]
    assert (await client.get("/prisoners/A1234BC.json")).status_code == 200
    assert (await add(client, "B1234BC", "Al Smith", "C2")).status_code == 403
    for action, form in (("move", {"cell": "C2"}), ("reset-pin", {}),
                         ("release", {"reason": "x"}), ("transfer", {"reason": "x"})):
        answer = await client.post(f"/prisoners/A1234BC/{action}.json", data=form)
        assert answer.status_code == 403, action
    assert "Reset PIN" not in (await client.get("/prisoners/A1234BC")).text


async def test_add_move_and_reset_pin_show_the_code_once_and_are_audited_by_account(
        client: httpx.AsyncClient, console: Console) -> None:
    await sign_in(client, console, make_staff(console, "sam", Role.SECURITY))
    made = await add(client, "A1234BC", "Jo Bloggs", "C1")
    assert made.status_code == 200, made.text
    assert console.service.prisoners.show("A1234BC")["tablets"] == ["T1", "T2"]

    moved = await client.post("/prisoners/A1234BC/move.json", data={"cell": "C3"})
    assert moved.status_code == 200, moved.text
    shown = (await client.get("/prisoners/A1234BC.json")).json()["person"]
    assert (shown["cell"], shown["landing"], shown["tablets"]) == ("C3", "L2", ["T4"])

    reset = await client.post("/prisoners/A1234BC/reset-pin.json")
    code = reset.json()["code"]
    assert len(code) == 8 and code.isdigit()
    assert code not in (await client.get("/prisoners/A1234BC")).text
    assert code not in (await client.get("/prisoners/A1234BC.json")).text
    assert (await client.get("/prisoners/A1234BC.json")).json()["person"]["credential"] == \
        "one_time"
    actions = [(e.actor, e.action) for e in console.service.store.audit_entries()
               if e.target == "prisoner:A1234BC"]
    assert [a for a in actions if a[0] == "staff:sam"] == [
        ("staff:sam", "prisoner_add"), ("staff:sam", "prisoner_move"),
        ("staff:sam", "prisoner_reset_pin")]


async def test_the_list_filters_by_landing_cell_and_status(
        client: httpx.AsyncClient, console: Console) -> None:
    await sign_in(client, console, make_staff(console, "sam", Role.SECURITY))
    for number, cell in (("A1111AA", "C1"), ("A2222AA", "C2"), ("A3333AA", "C3")):
        assert (await add(client, number, "Jo Bloggs", cell)).status_code == 200
    released = await client.post("/prisoners/A2222AA/release.json", data={"reason": "served"})
    assert released.status_code == 200, released.text

    async def numbers(query: str) -> list[str]:
        return [p["number"] for p in (await client.get(f"/prisoners.json?{query}")).json()[
            "people"]]

    assert await numbers("landing=L1") == ["A1111AA"]
    assert await numbers("landing=L2") == ["A3333AA"]
    assert await numbers("cell=C3") == ["A3333AA"]
    assert await numbers("status=released") == ["A2222AA"]
    assert await numbers("status=all&landing=L1") == ["A1111AA", "A2222AA"]


async def test_a_leave_without_a_reason_and_a_bad_number_are_refused(
        client: httpx.AsyncClient, console: Console) -> None:
    await sign_in(client, console, make_staff(console, "sam", Role.SECURITY))
    assert (await add(client, "12345", "Jo Bloggs", "C1")).status_code == 422
    assert (await add(client, "A1234BC", "Jo Bloggs", "C1")).status_code == 200
    refused = await client.post("/prisoners/A1234BC/release.json", data={"reason": " "})
    assert refused.status_code == 422
    assert (await client.get("/prisoners/A9999ZZ.json")).status_code == 404
    assert (await client.get("/prisoners/not-a-number.json")).status_code == 422
    assert console.service.prisoners.show("A1234BC")["status"] == "in_cell"


async def test_a_prisoners_name_is_shown_as_text(client: httpx.AsyncClient,
                                                 console: Console) -> None:
    await sign_in(client, console, make_staff(console, "sam", Role.SECURITY))
    payload = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    assert (await add(client, "A1234BC", payload, "C1")).status_code == 200
    for path in ("/prisoners", "/prisoners/A1234BC"):
        text = (await client.get(path)).text
        assert "<script>alert(1)" not in text and "<img src=x" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


async def test_the_roll_import_previews_with_bad_lines_then_applies(
        client: httpx.AsyncClient, console: Console) -> None:
    await sign_in(client, console, make_staff(console, "sam", Role.SECURITY))
    roll = HEADER + "A1111AA,Jo Bloggs,en,standard,C1,\nnot-a-number,X,en,standard,C1,\n"
    preview = await client.post("/prisoners/import.json", data={"csv": roll, "dry_run": "true"})
    assert preview.status_code == 200, preview.text
    assert (preview.json()["applied"], preview.json()["added"]) == (False, ["A1111AA"])
    assert [b["line"] for b in preview.json()["bad"]] == [3]
    assert console.service.prisoners.listing() == []
    page = (await client.post("/prisoners/import", data={"csv": roll, "dry_run": "true"})).text
    assert "Apply this roll" in page and "Skip the bad rows" in page

    refused = await client.post("/prisoners/import.json", data={"csv": roll})
    assert refused.json()["applied"] is False and console.service.prisoners.listing() == []
    applied = await client.post("/prisoners/import.json", data={"csv": roll, "skip_bad": "true"})
    assert applied.json()["applied"] is True
    assert [p["number"] for p in console.service.prisoners.listing()] == ["A1111AA"]


async def test_a_change_without_the_csrf_token_is_refused(client: httpx.AsyncClient,
                                                          console: Console) -> None:
    await sign_in(client, console, make_staff(console, "sam", Role.SECURITY))
    del client.headers["x-csrf-token"]
    assert (await add(client, "A1234BC", "Jo Bloggs", "C1")).status_code == 403
    assert console.service.prisoners.listing() == []
