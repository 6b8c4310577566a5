"""The policy page (upload, checked as the CLI checks, a diff, then apply) and the curfew page
(the week, now, who is in curfew, exceptions added and removed), in-process."""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import httpx
import pytest

from common.staff_web.roles import Role
from gateway.console.web import Console
from tests.console.conftest import make_staff, sign_in

EXAMPLE = Path(str(importlib.resources.files("gateway") / "policies" / "example.toml"))


@pytest.fixture
async def security(client: httpx.AsyncClient, console: Console) -> None:
    await sign_in(client, console, make_staff(console, "sam", Role.SECURITY))


async def upload(client: httpx.AsyncClient, text: str, name: str = "wing.toml") -> httpx.Response:
    return await client.post("/policy/check.json",
                             files={"file": (name, text.encode(), "text/plain")})


async def test_an_uploaded_policy_is_checked_shown_as_a_diff_then_applied(
        client: httpx.AsyncClient, console: Console, security: None) -> None:
    text = EXAMPLE.read_text()
    checked = (await upload(client, text)).json()
    assert checked["changed"] and checked["base_version"] == 0
    assert any(line.startswith("+[curfew]") for line in checked["diff"])
    assert console.service.policy.hash == ""  # nothing applied by a check
    applied = await client.post("/policy/apply.json", data={"text": text, "base_version": 0})
    assert applied.status_code == 200 and applied.json()["changed"]
    document = console.service.policy.document
    assert document is not None
    version = document.version
    assert ("staff:sam", "policy_publish") in [
        (e.actor, e.action) for e in console.service.store.audit_entries()]
    again = (await upload(client, text)).json()
    assert again["changed"] is False and again["diff"] == []
    edited = text.replace('timezone = "Europe/London"', 'timezone = "Europe/Dublin"')
    diff = (await upload(client, edited)).json()["diff"]
    assert '-timezone = "Europe/London"' in diff and '+timezone = "Europe/Dublin"' in diff
    stale = await client.post("/policy/apply.json", data={"text": edited, "base_version": 0})
    assert stale.status_code == 409  # someone applied meanwhile: look at the diff again
    html = (await client.get("/policy")).text
    assert f"Version {version}" in html


async def test_a_mistake_is_named_by_file_line_and_field(
        client: httpx.AsyncClient, security: None) -> None:
    broken = EXAMPLE.read_text().replace('timezone = "Europe/London"', 'timezone = "Mars/Base"')
    refused = await upload(client, broken, "wing.toml")
    assert refused.status_code == 422
    assert refused.json()["detail"].startswith("wing.toml:")
    assert "timezone" in refused.json()["detail"]
    not_text = await client.post("/policy/check.json",
                                 files={"file": ("x.toml", b"\xff\xfe", "text/plain")})
    assert not_text.status_code == 422


async def test_curfew_exceptions_are_added_and_removed_as_new_policy_versions(
        client: httpx.AsyncClient, console: Console, security: None) -> None:
    assert (await client.get("/curfew.json")).json()["policy"] is None
    await client.post("/policy/apply.json", data={"text": EXAMPLE.read_text(),
                                                  "base_version": 0})
    before = console.service.policy.document.version  # type: ignore[union-attr]
    page = (await client.get("/curfew.json")).json()
    assert page["timezone"] == "Europe/London" and page["windows"]
    assert page["now"]["state"] in ("open", "warning", "curfew", "lockdown")
    added = await client.post("/curfew/exceptions.json", data={
        "name": "Carol service <b>", "start": "2026-12-24T19:00", "end": "2026-12-24T21:30",
        "effect": "open"})
    assert added.status_code == 200, added.text
    after = (await client.get("/curfew.json")).json()
    assert [(o["name"], o["effect"]) for o in after["exceptions"]][-1] == (
        "Carol service <b>", "open")
    assert console.service.policy.document.version > before  # type: ignore[union-attr]
    assert "Carol service &lt;b&gt;" in (await client.get("/curfew")).text
    removed = await client.post("/curfew/exceptions/remove.json",
                                data={"name": "Carol service <b>"})
    assert removed.status_code == 200
    assert "Carol service <b>" not in [o["name"] for o in
                                       (await client.get("/curfew.json")).json()["exceptions"]]
    missing = await client.post("/curfew/exceptions/remove.json", data={"name": "nothing"})
    assert missing.status_code == 404


async def test_an_officer_has_no_curfew_or_policy_rights(client: httpx.AsyncClient,
                                                          console: Console) -> None:
    await sign_in(client, console, make_staff(console, "olly", Role.OFFICER))
    assert (await client.get("/curfew.json")).status_code == 403
    assert (await client.get("/policy.json")).status_code == 403
    assert (await upload(client, EXAMPLE.read_text())).status_code == 403
