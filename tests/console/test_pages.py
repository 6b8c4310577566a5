"""The console's pages through their JSON twins (and HTML where it matters), in-process on a real
gateway service: the wing map, a lock followed to "all confirmed", the audit, a tablet, requests,
accounts."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import httpx
import pytest

from common.staff_web.roles import Role
from gateway.console.web import Console
from gateway.console.wing import progress_events
from tests.console.conftest import Staff, make_staff, sign_in
from wire.documents import LockView, ReportedState
from wire.requests import Request


def report(console: Console, device: str, *, locked: bool = False, by: str = "",
           reason: str = "", profile: str = "standard", signed_in: str | None = None) -> None:
    """`device` reports it applied everything the gateway issued it (as an agent would)."""
    views: dict[Any, Any] = {v["id"]: v for v in console.service.tablet_views()}
    view = views[device]
    lock = LockView(locked=True, source="device", by=by, reason=reason, since=1) if locked \
        else LockView(locked=False)
    console.service.fleet.observe_report(ReportedState(
        device=device, desired_version=view["desired"]["version"],
        lockdown_version=view["lockdown"]["version"], lock=lock, profile=profile, at=1,
        boot_id="b", agent_version="test", signed_in=signed_in), False, console.clock())


@pytest.fixture
async def officer(client: httpx.AsyncClient, console: Console) -> Staff:
    staff = make_staff(console, "ann", Role.OFFICER, Role.SECURITY)
    assert (await sign_in(client, console, staff)).status_code == 200
    return staff


async def test_the_wing_map_shows_landings_cells_and_each_tablets_state(
        client: httpx.AsyncClient, console: Console, officer: Staff) -> None:
    report(console, "T1", locked=True, by="bob", reason="search")
    data = (await client.get("/wing.json")).json()
    assert [landing["name"] for landing in data["landings"]] == ["L1", "L2"]
    assert [c["name"] for c in data["landings"][0]["cells"]] == ["C1", "C2"]
    t1 = data["landings"][0]["cells"][0]["tablets"][0]
    # this gateway has no broker session: who is online is unknown, not "offline"
    assert (t1["id"], t1["locked"], t1["lock_by"], t1["online"]) == ("T1", True, "bob", None)
    assert "online unknown" in t1["attention"]
    assert data["counts"] == {"total": 4, "locked": 1, "unlocked": 0, "offline": 0,
                              "attention": 4, "curfew": 0, "updating": 0}
    only_l2 = (await client.get("/wing.json", params={"landing": "L2"})).json()
    assert [landing["name"] for landing in only_l2["landings"]] == ["L2"]
    locked = (await client.get("/wing.json", params={"state": "locked"})).json()
    assert [t["id"] for c in locked["landings"][0]["cells"] for t in c["tablets"]] == ["T1"]
    html = (await client.get("/wing")).text
    assert "Landing L1" in html and "Cell C2" in html and "Locked by bob" in html
    assert "no broker link now" in html and "Presence unknown" in html
    assert "Offline, last seen" not in html


async def test_a_cell_lock_is_followed_until_every_tablet_reports_it(
        client: httpx.AsyncClient, console: Console, officer: Staff) -> None:
    response = await client.post("/lock.json", data={"action": "lock", "scope": "cell",
                                                     "cell": "C1", "reason": "search"})
    assert response.status_code == 200
    job = response.json()
    assert (job["total"], job["confirmed"], job["pending"]) == (2, 0, ["T1", "T2"])
    audit = [e for e in console.service.store.audit_entries() if e.action == "lock"]
    assert [(e.actor, e.target, e.detail["reason"]) for e in audit] == [
        ("staff:ann", "cell:C1", "search")]
    report(console, "T1", locked=True)
    progress = (await client.get(f"/jobs/{job['id']}.json")).json()
    assert (progress["confirmed"], progress["pending"], progress["done"]) == (1, ["T2"], False)
    html = (await client.get(f"/jobs/{job['id']}")).text
    assert "<li>T2</li>" in html and 'data-events="/jobs/' in html
    report(console, "T2", locked=True)
    progress = (await client.get(f"/jobs/{job['id']}.json")).json()
    assert (progress["confirmed"], progress["pending"], progress["done"]) == (2, [], True)


@pytest.mark.timeout(30)
async def test_confirmations_stream_as_server_sent_events_until_all_confirmed(
        client: httpx.AsyncClient, console: Console, officer: Staff) -> None:
    job = (await client.post("/lock.json", data={"action": "lock", "scope": "devices",
                                                 "devices": ["T3", "T4"],
                                                 "reason": "search"})).json()
    events: list[dict[str, object]] = []
    # (httpx's in-process transport reads a whole body: the browser test follows the real stream)
    async for event in progress_events(console.jobs, job["id"], poll_s=0.01):
        assert event["event"] == "progress"
        events.append(json.loads(event["data"]))
        if len(events) == 1:
            report(console, "T3", locked=True)
        elif len(events) == 2:
            report(console, "T4", locked=True)
    assert [(e["confirmed"], e["pending"]) for e in events] == [
        (0, ["T3", "T4"]), (1, ["T4"]), (2, [])]
    assert events[-1]["done"] is True


async def test_an_unknown_tablet_or_an_empty_reason_is_refused(
        client: httpx.AsyncClient, console: Console, officer: Staff) -> None:
    unknown = await client.post("/lock.json", data={"action": "lock", "scope": "devices",
                                                    "devices": ["NOPE"], "reason": "x"})
    blank = await client.post("/lock.json", data={"action": "lock", "scope": "cell",
                                                  "cell": "C1", "reason": "  "})
    assert (unknown.status_code, blank.status_code) == (404, 422)


async def test_the_audit_filters_verifies_and_exports_csv(
        client: httpx.AsyncClient, console: Console, officer: Staff) -> None:
    await client.post("/lock.json", data={"action": "lock", "scope": "devices",
                                          "devices": ["T3"], "reason": "=cmd|' /C calc'!A0"})
    await client.post("/lock.json", data={"action": "unlock", "scope": "cell", "cell": "C1",
                                          "reason": "done"})
    mine = (await client.get("/audit.json", params={"account": "ann", "kind": "lock"})).json()
    assert [(e["actor"], e["action"], e["target"]) for e in mine["entries"]] == [
        ("staff:ann", "lock", "devices:T3")]
    by_tablet = (await client.get("/audit.json", params={"tablet": "T3",
                                                         "account": "ann"})).json()
    assert [e["action"] for e in by_tablet["entries"]] == ["lock"]
    today = (await client.get("/audit.json", params={"start": "2000-01-01",
                                                     "end": "2000-01-02"})).json()
    assert today["entries"] == []
    verified = (await client.get("/audit.json", params={"verify": "true"})).json()
    assert verified["verify"]["ok"] is True
    exported = await client.get("/audit.csv", params={"account": "ann", "kind": "lock"})
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0] == ["seq", "at_utc", "actor", "action", "target", "detail"]
    assert [(r[2], r[3], r[4]) for r in rows[1:]] == [("staff:ann", "lock", "devices:T3")]
    assert "'=cmd" not in rows[1][5] and rows[1][5].startswith("{")  # JSON, never a formula
    assert "audit_export" in [e.action for e in console.service.store.audit_entries()]
    bad = await client.get("/audit.json", params={"start": "yesterday"})
    assert bad.status_code == 422


async def test_a_tablets_page_shows_its_state_audit_and_requests(
        client: httpx.AsyncClient, console: Console, officer: Staff) -> None:
    await console.service.requests.on_request("T1", Request(
        id="b" * 32, type="canteen", text="more tea", created=1).model_dump_json().encode(),
        False, console.clock())
    report(console, "T1")
    data = (await client.get("/tablets/T1.json")).json()
    assert data["tablet"]["id"] == "T1" and data["agent_version"] == "test"
    assert [r["text"] for r in data["requests"]] == ["more tea"]
    assert data["audit"] and all("T1" in json.dumps(e) for e in data["audit"])
    assert (await client.get("/tablets/NOPE.json")).status_code == 404
    html = (await client.get("/tablets/T1")).text
    assert "more tea" in html
    assert "<dt>Update</dt><dd>—</dd>" in html  # none reported (not a dict method's name)


async def test_a_tablets_page_says_who_is_signed_in_and_whose_profile_it_follows(
        client: httpx.AsyncClient, console: Console, officer: Staff) -> None:
    report(console, "T1", profile="", signed_in=None)
    html = (await client.get("/tablets/T1")).text
    assert "<dt>Signed in</dt><dd>Nobody</dd>" in html
    assert "<dt>Profile</dt><dd>None while nobody is signed in</dd>" in html
    report(console, "T1", profile="enhanced", signed_in="A1234BC")
    html = (await client.get("/tablets/T1")).text
    assert "<dt>Signed in</dt><dd>A1234BC</dd>" in html
    assert "<dt>Profile</dt><dd>enhanced</dd>" in html
    assert (await client.get("/tablets/T1.json")).json()["signed_in"] == "A1234BC"


async def test_the_inbox_lists_open_requests_and_a_reply_closes_one(
        client: httpx.AsyncClient, console: Console, officer: Staff) -> None:
    await console.service.requests.on_request("T2", Request(
        id="c" * 32, type="healthcare", text="tooth ache", created=1).model_dump_json().encode(),
        False, console.clock())
    inbox = (await client.get("/requests.json")).json()
    assert [(r["device"], r["type"], r["text"]) for r in inbox["requests"]] == [
        ("T2", "healthcare", "tooth ache")]
    replied = await client.post(f"/requests/{'c' * 32}/reply.json",
                                data={"text": "nurse at 3pm"})
    assert replied.status_code == 200
    assert (await client.get("/requests.json")).json()["requests"] == []
    again = await client.post(f"/requests/{'c' * 32}/reply.json", data={"text": "again"})
    assert again.status_code == 409
    audit = [(e.actor, e.action) for e in console.service.store.audit_entries()]
    assert ("staff:ann", "request_reply") in audit


async def test_an_admin_adds_resets_and_disables_accounts(
        client: httpx.AsyncClient, console: Console) -> None:
    admin = make_staff(console, "root", Role.ADMIN)
    await sign_in(client, console, admin)
    added = await client.post("/accounts.json", data={"name": "sec", "display": "Sec",
                                                      "roles": ["security", "officer"]})
    assert added.status_code == 200
    enrolment = added.json()["enrolment"]
    assert enrolment["password"] and enrolment["totp_uri"].startswith("otpauth://totp/")
    assert enrolment["qr"].startswith("data:image/svg+xml")
    listing = (await client.get("/accounts.json")).json()["accounts"]
    assert {a["name"]: a["roles"] for a in listing}["sec"] == ["officer", "security"]
    disabled = await client.post("/accounts/sec/disable.json")
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert (await client.post("/accounts/root/disable.json")).status_code == 409
    reset = await client.post("/accounts/sec/reset.json")
    assert reset.json()["enrolment"]["password"] != enrolment["password"]
    audit = [(e.actor, e.action, e.target) for e in console.service.store.audit_entries()]
    assert ("staff:root", "account_add", "staff:sec") in audit
    assert ("staff:root", "account_disable", "staff:sec") in audit
    assert ("staff:root", "account_reset", "staff:sec") in audit
    duplicate = await client.post("/accounts.json", data={"name": "sec", "display": "S",
                                                          "roles": ["it"]})
    assert duplicate.status_code == 422
