"""The two-person rule: lifting a wing lockdown waits for a second, different account with the
right, within 10 minutes; the signed unlock names both."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from common.staff_web.roles import Role
from gateway.api import make_app
from gateway.console.app import build_console, make_console_app
from gateway.console.web import Console
from gateway.service import GatewayService
from gateway.two_person import APPROVE_WITHIN_MS, ApprovalError, Approvals
from tests.console.conftest import TEST_HASHER, browser, gateway_config, make_staff, sign_in


def test_the_same_person_cannot_approve_their_own_request() -> None:
    approvals = Approvals()
    pending = approvals.request("unlock_wing", "wing:A", "all clear", "sam", 0)
    with pytest.raises(ApprovalError, match="second, different person"):
        approvals.approve(pending.id, "sam", 1)
    assert approvals.approve(pending.id, "ada", 2) == pending
    with pytest.raises(ApprovalError, match="nothing with this id"):
        approvals.approve(pending.id, "bob", 3)  # carried out once


def test_a_request_not_approved_within_ten_minutes_lapses() -> None:
    approvals = Approvals()
    late = approvals.request("unlock_wing", "wing:A", "all clear", "sam", 0)
    assert approvals.waiting(APPROVE_WITHIN_MS) == [late]
    with pytest.raises(ApprovalError, match="lapsed"):
        approvals.approve(late.id, "ada", APPROVE_WITHIN_MS + 1)
    other = approvals.request("unlock_wing", "wing:A", "all clear", "sam", 0)
    assert approvals.lapsed(APPROVE_WITHIN_MS + 1) == [other]
    assert approvals.waiting(APPROVE_WITHIN_MS + 1) == []


def test_a_new_request_replaces_the_one_waiting_for_the_same_thing() -> None:
    approvals = Approvals()
    first = approvals.request("unlock_wing", "wing:A", "one", "sam", 0)
    second = approvals.request("unlock_wing", "wing:A", "two", "bob", 1)
    assert approvals.waiting(2) == [second]
    with pytest.raises(ApprovalError):
        approvals.approve(first.id, "ada", 2)


async def test_lifting_a_wing_lockdown_needs_a_second_account_with_the_right(
        client: httpx.AsyncClient, console: Console, app: FastAPI) -> None:
    sam = make_staff(console, "sam", Role.SECURITY)
    await sign_in(client, console, sam)
    locked = await client.post("/lock.json", data={"action": "lock", "scope": "wing",
                                                   "reason": "incident"})
    assert locked.status_code == 200
    asked = await client.post("/lock.json", data={"action": "unlock", "scope": "wing",
                                                  "reason": "all clear"})
    assert asked.status_code == 200
    waiting = asked.json()["waiting"]
    assert console.service.issuer.lockdown and console.service.issuer.lockdown.document.lock.locked
    own = await client.post(f"/approvals/{waiting['id']}/approve.json")
    assert own.status_code == 409

    officer = make_staff(console, "olly", Role.OFFICER)
    async with browser(app) as second:
        await sign_in(second, console, officer)
        assert (await second.post(f"/approvals/{waiting['id']}/approve.json")).status_code == 403

    ada = make_staff(console, "ada", Role.SECURITY)
    async with browser(app) as second:
        await sign_in(second, console, ada)
        listed = (await second.get("/approvals.json")).json()["waiting"]
        assert [(p["requested_by"], p["reason"]) for p in listed] == [("sam", "all clear")]
        approved = await second.post(f"/approvals/{waiting['id']}/approve.json")
        assert approved.status_code == 200
        assert approved.json()["verb"] == "unlock" and approved.json()["total"] == 4

    lockdown = console.service.issuer.lockdown
    assert lockdown is not None and not lockdown.document.lock.locked
    assert lockdown.document.lock.by == "sam+ada"  # the signed document names both
    entries = [(e.actor, e.action, e.target) for e in console.service.store.audit_entries()]
    assert ("staff:sam", "two_person_request", "wing:A") in entries
    assert ("staff:ada", "two_person_approve", "wing:A") in entries
    assert ("staff:sam+ada", "unlock", "wing:A") in entries
    assert entries.index(("staff:sam", "two_person_request", "wing:A")) < \
        entries.index(("staff:sam+ada", "unlock", "wing:A"))


async def test_an_officer_cannot_even_ask_to_lift_a_wing_lockdown(
        client: httpx.AsyncClient, console: Console) -> None:
    await sign_in(client, console, make_staff(console, "olly", Role.OFFICER))
    asked = await client.post("/lock.json", data={"action": "unlock", "scope": "wing",
                                                  "reason": "all clear"})
    assert asked.status_code == 403
    assert (await client.get("/approvals.json")).status_code == 403


async def test_a_wipe_from_the_tablet_page_is_signed_only_once_a_second_account_approves(
        client: httpx.AsyncClient, console: Console, app: FastAPI) -> None:
    sam = make_staff(console, "sam", Role.SECURITY)
    await sign_in(client, console, sam)
    asked = await client.post("/tablets/T1/wipe.json", data={"reason": "handed back"})
    assert asked.status_code == 200
    job, waiting = asked.json(), asked.json()["waiting"]
    assert job["state"] == "awaiting_approval"
    assert (await client.post(f"/approvals/{waiting['id']}/approve.json")).status_code == 409
    page = (await client.get("/tablets/T1")).text
    assert "Wipe this tablet" in page and job["id"] in page

    ada = make_staff(console, "ada", Role.SECURITY)
    async with browser(app) as second:
        await sign_in(second, console, ada)
        approved = await second.post(f"/approvals/{waiting['id']}/approve.json")
        assert approved.status_code == 200, approved.text
        assert (approved.json()["requested_by"], approved.json()["approved_by"]) == ("sam", "ada")

    stored = await console.service.jobs.get(job["id"])
    assert stored["state"] in ("pending", "sent")
    rows = console.service.store.read("SELECT envelope FROM jobs WHERE id = ?", [job["id"]])
    body = json.loads(json.loads(rows[0][0])["body"])
    assert (body["kind"], body["by"]) == ("wipe", "console:sam+console:ada")
    actions = [e.action for e in console.service.store.audit_entries()]
    assert {"wipe_requested", "two_person_request", "two_person_approve", "wipe_approved"} <= \
        set(actions)


async def test_an_officer_cannot_ask_for_a_wipe(client: httpx.AsyncClient,
                                               console: Console) -> None:
    await sign_in(client, console, make_staff(console, "olly", Role.OFFICER))
    assert (await client.post("/tablets/T1/wipe.json", data={"reason": "x"})).status_code == 403
    assert "Wipe this tablet" not in (await client.get("/tablets/T1")).text


async def test_a_wipe_request_that_lapses_is_audited_once(tmp_path: Path) -> None:
    now = [1_000_000]
    service = GatewayService(gateway_config(tmp_path), clock=lambda: now[0])
    try:
        console = build_console(service, TEST_HASHER)
        async with browser(make_console_app(console)) as client:
            await sign_in(client, console, make_staff(console, "sam", Role.SECURITY))
            asked = await client.post("/tablets/T1/wipe.json", data={"reason": "handed back"})
            assert asked.status_code == 200, asked.text
            now[0] += APPROVE_WITHIN_MS + 1
            assert (await client.get("/approvals.json")).json()["waiting"] == []
            await client.get("/approvals.json")  # looked at again: nothing more to record
        lapses = [e for e in service.store.audit_entries()
                  if e.action in ("wipe_lapsed", "two_person_lapsed")]
        assert [e.action for e in lapses] == ["wipe_lapsed"]
        assert (await service.jobs.get(asked.json()["id"]))["state"] == "lapsed"
    finally:
        service.close()


def test_an_os_account_and_a_console_account_of_one_name_are_one_person() -> None:
    approvals = Approvals()
    pending = approvals.request("unlock_wing", "wing:A", "all clear", "os:sam", 0)
    with pytest.raises(ApprovalError, match="second, different person"):
        approvals.approve(pending.id, "Sam", 1)
    assert approvals.approve(pending.id, "ada", 2) == pending


async def test_a_lift_asked_for_at_the_cli_is_approved_in_the_console_naming_both(
        client: httpx.AsyncClient, console: Console, app: FastAPI) -> None:
    api = httpx.AsyncClient(transport=httpx.ASGITransport(app=make_app(console.service, "sam")),
                            base_url="http://gateway")
    async with api:
        locked = await api.post("/v1/lock", json={"wing": True, "locked": True,
                                                  "reason": "incident"})
        assert locked.status_code == 200
        asked = await api.post("/v1/lock", json={"wing": True, "locked": False,
                                                 "reason": "all clear"})
    assert asked.status_code == 202
    waiting = asked.json()["awaiting_approval"]
    assert waiting["requested_by"] == "os:sam"

    await sign_in(client, console, make_staff(console, "sam", Role.SECURITY))
    [mine] = (await client.get("/approvals.json")).json()["waiting"]
    assert mine["mine"] is True  # the console's sam is the CLI's os:sam: no approve button
    assert (await client.post(f"/approvals/{waiting['id']}/approve.json")).status_code == 409

    async with browser(app) as second:
        await sign_in(second, console, make_staff(console, "ada", Role.SECURITY))
        approved = await second.post(f"/approvals/{waiting['id']}/approve.json")
        assert approved.status_code == 200, approved.text

    lockdown = console.service.issuer.lockdown
    assert lockdown is not None and not lockdown.document.lock.locked
    assert lockdown.document.lock.by == "os:sam+ada"
