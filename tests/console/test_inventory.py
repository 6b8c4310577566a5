"""The inventory page (IT): every tablet with its versions, slot, enrolment state, profile and
policy hash, sortable by column with plain links; its JSON twin."""

from __future__ import annotations

import httpx

from common.staff_web.roles import Role
from gateway.console.inventory import DAY_MS
from gateway.console.web import Console
from tests.console.conftest import make_staff, sign_in
from wire.documents import LockView, ReportedState, UpdateReport


def report(console: Console, device: str, running: str, slot: str, agent: str = "test",
           cert_not_after: int | None = None) -> None:
    console.service.fleet.observe_report(ReportedState(
        device=device, desired_version=0, lockdown_version=0, lock=LockView(locked=False),
        profile="<i>standard</i>", at=1, boot_id="b", agent_version=agent,
        policy_hash="ab" * 32, cert_not_after=cert_not_after,
        update=UpdateReport(state="idle", running=running, slot=slot)), False, console.clock())


async def test_the_inventory_lists_every_tablet_with_its_versions_and_enrolment(
        client: httpx.AsyncClient, console: Console) -> None:
    await sign_in(client, console, make_staff(console, "ivy", Role.IT))
    report(console, "T2", "1.1", "B")
    data = (await client.get("/inventory.json")).json()
    assert [t["id"] for t in data["tablets"]] == ["T1", "T2", "T3", "T4"]
    t2 = data["tablets"][1]
    assert (t2["os"], t2["slot"], t2["agent"], t2["policy_hash"], t2["enrolment"]) == (
        "1.1", "B", "test", "ab" * 32, "reporting")
    assert data["tablets"][0]["enrolment"] == "registered, never seen"
    assert data["tablets"][0]["cert_expires"] is None
    html = (await client.get("/inventory")).text
    assert "&lt;i&gt;standard&lt;/i&gt;" in html and "<i>standard" not in html


async def test_the_inventory_sorts_by_a_column_unknown_values_last(
        client: httpx.AsyncClient, console: Console) -> None:
    await sign_in(client, console, make_staff(console, "ivy", Role.IT))
    report(console, "T3", "1.0", "A")
    report(console, "T1", "1.2", "B")
    by_os = (await client.get("/inventory.json?sort=os")).json()["tablets"]
    assert [t["id"] for t in by_os] == ["T3", "T1", "T2", "T4"]
    down = (await client.get("/inventory.json?sort=os&desc=true")).json()["tablets"]
    assert [t["id"] for t in down] == ["T1", "T3", "T2", "T4"]
    html = (await client.get("/inventory?sort=os")).text
    assert 'href="/inventory?sort=os&amp;desc=true"' in html and 'aria-sort="ascending"' in html
    odd = (await client.get("/inventory.json?sort=__class__")).json()
    assert odd["sort"] == "id"


async def test_an_officer_has_no_inventory(client: httpx.AsyncClient, console: Console) -> None:
    await sign_in(client, console, make_staff(console, "olly", Role.OFFICER))
    assert (await client.get("/inventory.json")).status_code == 403


async def test_a_certificate_running_out_within_thirty_days_is_warned_of(
        client: httpx.AsyncClient, console: Console) -> None:
    await sign_in(client, console, make_staff(console, "ivy", Role.IT))
    now = console.clock()
    report(console, "T1", "1.0", "A", cert_not_after=now + 10 * DAY_MS + 60_000)
    report(console, "T2", "1.0", "A", cert_not_after=now + 200 * DAY_MS + 60_000)
    report(console, "T3", "1.0", "A", cert_not_after=now - 2 * DAY_MS - 60_000)
    report(console, "T4", "1.0", "A")  # an agent that does not say
    tablets = (await client.get("/inventory.json")).json()["tablets"]
    assert [t["cert_days"] for t in tablets] == [10, 200, -2, None]
    assert [t["cert_expired"] for t in tablets] == [False, False, True, False]
    html = (await client.get("/inventory")).text
    assert '<span class="warning">Warning: expires in 10 days</span>' in html
    assert "expires in 200 days" in html and "Warning: expires in 200" not in html
    assert "Expired 2 days ago" in html
    soonest = (await client.get("/inventory.json?sort=cert_expires")).json()["tablets"]
    assert [t["id"] for t in soonest] == ["T3", "T1", "T2", "T4"]
