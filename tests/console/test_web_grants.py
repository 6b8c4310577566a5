"""The console's web grants page: a security account grants a catalogue site to a tablet, lists
and revokes grants; a sensitive site's grant needs a second, different security account within
10 minutes (the two-person rule, as for lifting a lockdown), else it lapses and is revoked."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from common.staff_web.roles import Role
from gateway.console.app import build_console
from gateway.console.web import Console
from gateway.policy_file import load_rules
from gateway.service import GatewayService, wall_ms
from gateway.two_person import APPROVE_WITHIN_MS
from gateway.web_grant_book import APPROVE_WITHIN_MS as GRANT_BOOK_WINDOW_MS
from tests.console.conftest import TEST_HASHER, browser, gateway_config, make_staff, sign_in

EXAMPLE = Path(__file__).parents[2] / "gateway" / "policies" / "example.toml"
BANK = "basic-bank-account"
BANK_HOST = "online.natwest.com"


class Clock:
    """The gateway's clock, moved on by the test (it starts at the real time)."""

    def __init__(self) -> None:
        self.now = wall_ms()

    def __call__(self) -> int:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(tmp_path: Path, clock: Clock) -> Iterator[GatewayService]:
    service = GatewayService(gateway_config(tmp_path), clock=clock)
    yield service
    service.close()


@pytest.fixture
async def console(service: GatewayService) -> Console:
    rules = load_rules(EXAMPLE)
    for field in ("curfew", "overrides", "lockdowns"):  # open all day: tests run at any hour
        rules.pop(field, None)
    await service.policy.apply(rules, "setup")
    return build_console(service, TEST_HASHER)


def day(offset: int) -> str:
    return (dt.date.today() + dt.timedelta(days=offset)).isoformat()


async def grant(client: httpx.AsyncClient, site: str, purpose: str = "before release",
                device: str = "T1") -> httpx.Response:
    return await client.post("/web-grants.json", data={
        "device": device, "site": site, "purpose": purpose, "until": day(20)})


def audit(console: Console) -> list[tuple[str, str, str]]:
    return [(e.actor, e.action, e.target) for e in console.service.store.audit_entries()]


async def test_a_security_account_grants_a_site_and_sees_it_listed(
        client: httpx.AsyncClient, console: Console) -> None:
    await sign_in(client, console, make_staff(console, "sam", Role.SECURITY))
    made = await grant(client, "find-a-job")
    assert made.status_code == 200, made.text
    assert (made.json()["state"], made.json()["granted_by"]) == ("active", "sam")
    assert console.service.web.decide("T1", "findajob.dwp.gov.uk").allowed
    listed = (await client.get("/web-grants.json", params={"device": "T1"})).json()
    assert [(g["id"], g["site"], g["state"]) for g in listed["grants"]] == [
        (made.json()["id"], "find-a-job", "active")]
    assert BANK in [s["name"] for s in listed["sites"] if s["sensitive"]]
    assert ("staff:sam", "web_grant", "device:T1") in audit(console)


async def test_a_sensitive_grant_takes_effect_only_when_a_second_security_account_approves(
        client: httpx.AsyncClient, console: Console, app: FastAPI) -> None:
    await sign_in(client, console, make_staff(console, "sam", Role.SECURITY))
    made = (await grant(client, BANK)).json()
    assert made["state"] == "awaiting_approval" and made["waiting"]["requested_by"] == "sam"
    assert not console.service.web.decide("T1", BANK_HOST).allowed
    own = await client.post(f"/web-grants/{made['id']}/approve.json")
    assert own.status_code == 409 and "second, different person" in own.json()["detail"]

    async with browser(app) as officer:
        await sign_in(officer, console, make_staff(console, "olly", Role.OFFICER))
        refused = await officer.post(f"/web-grants/{made['id']}/approve.json")
        assert refused.status_code == 403
    assert not console.service.web.decide("T1", BANK_HOST).allowed

    async with browser(app) as second:
        await sign_in(second, console, make_staff(console, "ada", Role.SECURITY))
        approved = await second.post(f"/web-grants/{made['id']}/approve.json")
        assert approved.status_code == 200, approved.text
        assert (approved.json()["state"], approved.json()["approved_by"]) == ("active", "ada")
    assert console.service.web.decide("T1", BANK_HOST).allowed
    target = f"grant:{made['id']}"
    done = [a for a in audit(console) if a[1].startswith(("web_", "two_person"))]
    assert done == [
        ("staff:sam", "web_grant", "device:T1"), ("staff:sam", "two_person_request", target),
        ("staff:ada", "two_person_approve", target),
        ("staff:ada", "web_grant_approve", "device:T1")]


async def test_a_sensitive_grant_waits_on_the_approvals_page_like_a_lifted_lockdown(
        client: httpx.AsyncClient, console: Console, app: FastAPI) -> None:
    await sign_in(client, console, make_staff(console, "sam", Role.SECURITY))
    made = (await grant(client, BANK)).json()
    async with browser(app) as second:
        await sign_in(second, console, make_staff(console, "ada", Role.SECURITY))
        waiting = (await second.get("/approvals.json")).json()["waiting"]
        assert [(p["action"], p["target"]) for p in waiting] == [
            ("approve_web_grant", f"grant:{made['id']}")]
        approved = await second.post(f"/approvals/{waiting[0]['id']}/approve.json")
        assert approved.status_code == 200 and approved.json()["approved_by"] == "ada"


async def test_a_sensitive_grant_not_approved_within_ten_minutes_lapses_and_is_revoked(
        client: httpx.AsyncClient, console: Console, app: FastAPI, clock: Clock) -> None:
    await sign_in(client, console, make_staff(console, "sam", Role.SECURITY))
    made = (await grant(client, BANK)).json()
    clock.now += APPROVE_WITHIN_MS + 1
    async with browser(app) as second:
        await sign_in(second, console, make_staff(console, "ada", Role.SECURITY))
        late = await second.post(f"/web-grants/{made['id']}/approve.json")
        assert late.status_code == 409
    assert not console.service.web.decide("T1", BANK_HOST).allowed
    listed = (await client.get("/web-grants.json")).json()["grants"]
    assert [(g["state"], g["revoke_reason"]) for g in listed] == [
        ("revoked", "not approved by a second person within 10 minutes")]
    assert ("system", "two_person_lapsed", f"grant:{made['id']}") in audit(console)
    assert ("system", "web_grant_revoke", "device:T1") in audit(console)


async def test_revoking_a_grant_ends_it_and_its_waiting_approval(
        client: httpx.AsyncClient, console: Console) -> None:
    await sign_in(client, console, make_staff(console, "sam", Role.SECURITY))
    jobs = (await grant(client, "find-a-job")).json()
    bank = (await grant(client, BANK)).json()
    for made in (jobs, bank):
        ended = await client.post(f"/web-grants/{made['id']}/revoke.json",
                                  data={"reason": "moved wing"})
        assert ended.status_code == 200 and ended.json()["state"] == "revoked"
    assert not console.service.web.decide("T1", "findajob.dwp.gov.uk").allowed
    assert console.approvals.waiting(console.clock()) == []
    again = await client.post(f"/web-grants/{jobs['id']}/revoke.json", data={"reason": "x"})
    assert again.status_code == 409


@pytest.mark.parametrize("grant_id", ["G²", "²", "G١٢", "G" + "9" * 12])
async def test_a_grant_id_that_is_not_plain_digits_is_not_found(
        client: httpx.AsyncClient, console: Console, grant_id: str) -> None:
    """Found by the schema fuzzer: "²" passes str.isdigit() and then crashed int() (a 500)."""
    await sign_in(client, console, make_staff(console, "sam", Role.SECURITY))
    refused = await client.post(f"/web-grants/{grant_id}/revoke.json", data={"reason": "x"})
    assert refused.status_code == 404, refused.text


async def test_an_officer_cannot_see_or_make_web_grants(
        client: httpx.AsyncClient, console: Console) -> None:
    await sign_in(client, console, make_staff(console, "olly", Role.OFFICER))
    assert (await client.get("/web-grants.json")).status_code == 403
    assert (await grant(client, "find-a-job")).status_code == 403
    assert console.service.web.listing() == []


async def test_a_grant_outside_the_catalogue_or_past_90_days_is_refused(
        client: httpx.AsyncClient, console: Console) -> None:
    await sign_in(client, console, make_staff(console, "sam", Role.SECURITY))
    casino = await grant(client, "casino")
    assert casino.status_code == 422 and "no site 'casino'" in casino.json()["detail"]
    late = await client.post("/web-grants.json", data={
        "device": "T1", "site": "find-a-job", "purpose": "why", "until": day(91)})
    assert late.status_code == 422 and "at most 90 days" in late.json()["detail"]
    last = await client.post("/web-grants.json", data={
        "device": "T1", "site": "find-a-job", "purpose": "why", "until": "9999-12-31"})
    assert last.status_code == 422 and "at most 90 days" in last.json()["detail"]
    assert console.service.web.listing() == []


async def test_what_staff_typed_is_shown_as_text_on_the_grant_and_approval_pages(
        client: httpx.AsyncClient, console: Console, app: FastAPI) -> None:
    payload = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    await sign_in(client, console, make_staff(console, "sam", Role.SECURITY))
    assert (await grant(client, BANK, purpose=payload)).status_code == 200
    async with browser(app) as second:
        await sign_in(second, console, make_staff(console, "ada", Role.SECURITY))
        for path in ("/web-grants", "/approvals"):
            html = (await second.get(path)).text
            assert "<script>alert" not in html and "<img src=x" not in html, path
            assert "&lt;script&gt;alert(" in html, path


async def test_the_tablet_page_lists_its_web_grants_for_those_with_the_right(
        client: httpx.AsyncClient, console: Console, app: FastAPI) -> None:
    await sign_in(client, console, make_staff(console, "sam", Role.SECURITY))
    made = (await grant(client, "find-a-job", device="T2")).json()
    page = (await client.get("/tablets/T2.json")).json()
    assert [(g["id"], g["state"]) for g in page["web_grants"]] == [(made["id"], "active")]
    assert "Web grants" in (await client.get("/tablets/T2")).text
    async with browser(app) as officer:
        await sign_in(officer, console, make_staff(console, "olly", Role.OFFICER))
        assert (await officer.get("/tablets/T2.json")).json()["web_grants"] is None


def test_the_console_and_the_grant_book_give_a_second_person_the_same_ten_minutes() -> None:
    assert APPROVE_WITHIN_MS == GRANT_BOOK_WINDOW_MS == 10 * 60 * 1000
