"""Assigning a prisoner's request to a staff account: shown in the inbox with its assignee, kept
at the gateway (audited), refused for an account that cannot answer requests."""

from __future__ import annotations

from pathlib import Path

import httpx

from common.staff_web.roles import Role
from gateway.console.web import Console
from gateway.request_book import RequestBook
from gateway.store import Store
from tests.console.conftest import make_staff, sign_in
from wire.requests import Request

RID = "d" * 32


async def _a_request(console: Console) -> None:
    await console.service.requests.on_request("T3", Request(
        id=RID, type="canteen", text="<b>soap</b>", created=1).model_dump_json().encode(),
        False, console.clock())


async def test_a_request_assigned_is_shown_with_its_assignee_and_audited(
        client: httpx.AsyncClient, console: Console) -> None:
    await sign_in(client, console, make_staff(console, "ann", Role.OFFICER))
    make_staff(console, "bob", Role.OFFICER)
    await _a_request(console)
    given = await client.post(f"/requests/{RID}/assign.json", data={"to": "bob"})
    assert given.status_code == 200, given.text
    row = (await client.get("/requests.json")).json()["requests"][0]
    assert (row["assigned_to"], row["assigned_by"]) == ("bob", "ann")
    assert (await client.get("/requests.json?show=mine")).json()["requests"] == []
    html = (await client.get("/requests")).text
    assert "Given to bob by ann" in html and "&lt;b&gt;soap&lt;/b&gt;" in html
    taken_back = await client.post(f"/requests/{RID}/assign.json", data={"to": ""})
    assert taken_back.status_code == 200
    assert (await client.get("/requests.json")).json()["requests"][0]["assigned_to"] is None
    audit = [(e.actor, e.action, e.detail.get("to")) for e in console.service.store.audit_entries()
             if e.action.startswith("request_")]
    assert audit[-2:] == [("staff:ann", "request_assign", "bob"),
                          ("staff:ann", "request_unassign", None)]


async def test_a_request_cannot_be_given_to_an_account_that_does_not_answer_requests(
        client: httpx.AsyncClient, console: Console) -> None:
    await sign_in(client, console, make_staff(console, "ann", Role.OFFICER))
    make_staff(console, "ivy", Role.IT)
    await _a_request(console)
    for name in ("ivy", "nobody-here"):
        refused = await client.post(f"/requests/{RID}/assign.json", data={"to": name})
        assert refused.status_code == 422, name
    assert (await client.get("/requests.json")).json()["requests"][0]["assigned_to"] is None
    unknown = await client.post(f"/requests/{'e' * 32}/assign.json", data={"to": "ann"})
    assert unknown.status_code == 404


async def test_an_it_account_cannot_assign_requests(client: httpx.AsyncClient,
                                                    console: Console) -> None:
    await sign_in(client, console, make_staff(console, "ivy", Role.IT))
    refused = await client.post(f"/requests/{RID}/assign.json", data={"to": "ivy"})
    assert refused.status_code == 403


def test_a_requests_table_from_before_assignment_gains_its_columns(tmp_path: Path) -> None:
    store = Store(tmp_path / "gateway.db")
    with store.transaction() as db:
        db.execute(
            "CREATE TABLE requests ("
            " id TEXT PRIMARY KEY, device TEXT NOT NULL, type TEXT NOT NULL,"
            " text TEXT NOT NULL, created INTEGER NOT NULL, received INTEGER NOT NULL,"
            " copies INTEGER NOT NULL DEFAULT 0, reply TEXT, reply_by TEXT,"
            " replied_at INTEGER, reply_delivered INTEGER NOT NULL DEFAULT 0)")
        db.execute("INSERT INTO requests (id, device, type, text, created, received)"
                   " VALUES ('r1', 'T1', 'canteen', 'tea', 1, 2)")
    book = RequestBook(store)
    assert book.assign("r1", "ann", "sam", 5) == "T1"
    assert book.listing()[0]["assigned_to"] == "ann" and book.listing()[0]["text"] == "tea"
    store.close()
