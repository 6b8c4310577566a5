"""The console's defences, in-process (httpx over ASGI): CSRF, session fixation, cookie flags,
lockout, rights at the API, inert prisoner and staff text, the Content-Security-Policy."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from common.staff_web.accounts import MAX_FAILURES
from common.staff_web.headers import CSP
from common.staff_web.roles import Role
from gateway.console.web import COOKIE, Console
from tests.console.conftest import browser, csrf_of, make_staff, session_cookie, sign_in
from wire.documents import LockView, ReportedState

XSS = '<script>alert(1)</script><img src=x onerror=alert(2)>"\'&'


async def test_a_state_changing_request_without_or_with_a_wrong_csrf_token_is_403(
        client: httpx.AsyncClient, console: Console) -> None:
    staff = make_staff(console, "ann", Role.OFFICER)
    assert (await sign_in(client, console, staff)).status_code == 200
    good = client.headers.pop("x-csrf-token")
    form = {"action": "lock", "scope": "cell", "cell": "C1", "reason": "search"}
    missing = await client.post("/lock.json", data=form)
    wrong = await client.post("/lock.json", data={**form, "csrf_token": good[:-2] + "xx"})
    wrong_header = await client.post("/lock.json", data=form, headers={"x-csrf-token": "nope"})
    assert (missing.status_code, wrong.status_code, wrong_header.status_code) == (403, 403, 403)
    assert "CSRF" in missing.json()["detail"]
    assert not [e for e in console.service.store.audit_entries() if e.action == "lock"]
    right = await client.post("/lock.json", data={**form, "csrf_token": good})
    assert right.status_code == 200


async def test_sign_in_itself_needs_the_forms_csrf_token(client: httpx.AsyncClient,
                                                         console: Console) -> None:
    staff = make_staff(console, "ann", Role.OFFICER)
    response = await client.post("/signin.json", data={"name": "ann",
                                                       "password": staff.password})
    assert response.status_code == 403


async def test_signing_in_makes_a_new_session_the_planted_id_is_worthless(
        client: httpx.AsyncClient, console: Console, app: FastAPI) -> None:
    staff = make_staff(console, "ann", Role.OFFICER)
    await csrf_of(client)
    planted = session_cookie(client)
    assert planted
    assert (await sign_in(client, console, staff)).status_code == 200
    signed_in = session_cookie(client)
    assert signed_in and signed_in != planted
    assert (await client.get("/wing.json")).status_code == 200
    # The attacker who planted the first id gets nothing with it.
    async with browser(app) as attacker:
        attacker.cookies.set(COOKIE, planted)
        assert (await attacker.get("/wing.json")).status_code == 401


async def test_the_session_cookie_is_secure_httponly_samesite_strict(
        client: httpx.AsyncClient, console: Console) -> None:
    staff = make_staff(console, "ann", Role.OFFICER)
    await csrf_of(client)
    response = await sign_in(client, console, staff)
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    flags = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "samesite=strict", "path=/"} <= flags
    assert not any(f.startswith("domain") or f.startswith("max-age") or f.startswith("expires")
                   for f in flags)


async def test_signing_out_ends_the_session_on_the_server(client: httpx.AsyncClient,
                                                          console: Console, app: FastAPI) -> None:
    staff = make_staff(console, "ann", Role.OFFICER)
    await sign_in(client, console, staff)
    old = session_cookie(client)
    assert (await client.post("/signout.json")).status_code == 200
    async with browser(app) as replay:
        replay.cookies.set(COOKIE, old or "")
        assert (await replay.get("/wing.json")).status_code == 401
    assert ("staff:ann", "sign_out") in [(e.actor, e.action)
                                         for e in console.service.store.audit_entries()]


async def test_five_failed_sign_ins_lock_the_account(client: httpx.AsyncClient,
                                                     console: Console) -> None:
    staff = make_staff(console, "ann", Role.OFFICER)
    for _ in range(MAX_FAILURES):
        wrong = await sign_in(client, console, staff.__class__("ann", "not it", None))
        assert wrong.status_code == 401
    refused = await sign_in(client, console, staff)
    assert refused.status_code == 401
    # One sentence for every refusal: it does not tell an attacker which part was wrong.
    assert refused.json()["error"] == wrong.json()["error"]
    assert "account_locked" in [e.action for e in console.service.store.audit_entries()]


async def test_totp_is_required_over_http_too(client: httpx.AsyncClient,
                                              console: Console) -> None:
    staff = make_staff(console, "sec", Role.SECURITY)
    assert (await sign_in(client, console, staff, code="")).status_code == 401
    assert (await sign_in(client, console, staff)).status_code == 200


async def test_a_one_time_password_must_be_changed_before_anything_else(
        client: httpx.AsyncClient, console: Console) -> None:
    staff = make_staff(console, "ann", Role.OFFICER, change=False)
    await sign_in(client, console, staff)
    assert (await client.get("/wing.json")).status_code == 403
    page = await client.get("/wing")
    assert page.status_code == 303 and page.headers["location"] == "/password"
    new = "a much longer password"
    changed = await client.post("/password.json", data={"old": staff.password, "new": new,
                                                        "again": new})
    assert changed.status_code == 200
    assert (await client.get("/wing.json")).status_code == 200


@pytest.mark.parametrize(("role", "method", "path", "form"), [
    (Role.IT, "POST", "/lock.json", {"action": "lock", "scope": "cell", "cell": "C1",
                                     "reason": "x"}),
    (Role.OFFICER, "POST", "/lock.json", {"action": "lock", "scope": "wing", "reason": "x"}),
    (Role.OFFICER, "POST", "/lock.json", {"action": "lock", "scope": "landing",
                                          "landing": "L1", "reason": "x"}),
    (Role.OFFICER, "GET", "/audit.json", None),
    (Role.OFFICER, "GET", "/audit.csv", None),
    (Role.OFFICER, "GET", "/accounts.json", None),
    (Role.OFFICER, "POST", "/accounts.json", {"name": "eve", "display": "Eve",
                                              "roles": "admin"}),
    (Role.ADMIN, "GET", "/wing.json", None),
    (Role.IT, "GET", "/requests.json", None),
])
async def test_a_role_without_the_right_gets_403_from_the_api(
        client: httpx.AsyncClient, console: Console, role: Role, method: str, path: str,
        form: dict[str, str] | None) -> None:
    staff = make_staff(console, "someone", role)
    await sign_in(client, console, staff)
    response = await client.request(method, path, data=form)
    assert response.status_code == 403, response.text
    assert not [e for e in console.service.store.audit_entries()
                if e.action in ("lock", "account_add") and e.actor == "staff:someone"]


async def test_pages_need_a_session(client: httpx.AsyncClient) -> None:
    assert (await client.get("/wing.json")).status_code == 401
    redirect = await client.get("/wing")
    assert redirect.status_code == 303 and redirect.headers["location"] == "/signin"


async def test_every_answer_carries_a_csp_without_inline_script(client: httpx.AsyncClient
                                                                ) -> None:
    for path in ("/signin", "/signin.json", "/static/console.css", "/wing"):
        response = await client.get(path)
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-frame-options"] == "DENY"
    assert "'unsafe-inline'" not in CSP and "script-src 'self'" in CSP
    assert "default-src 'self'" in CSP
    page = (await client.get("/signin")).text
    assert "<script>" not in page and "onload=" not in page


async def test_prisoner_text_reasons_and_names_are_shown_as_text(
        client: httpx.AsyncClient, console: Console) -> None:
    from wire.requests import Request

    staff = make_staff(console, "sec", Role.SECURITY)
    await sign_in(client, console, staff)
    # A lock reason and a display name full of markup.
    assert (await client.post("/lock.json", data={
        "action": "lock", "scope": "cell", "cell": "C1", "reason": XSS})).status_code == 200
    # A prisoner's request with markup (kept as the gateway keeps it).
    request = Request(id="a" * 32, type="general", text=XSS, created=1)
    await console.service.requests.on_request("T1", request.model_dump_json().encode(), False,
                                              console.clock())
    console.service.fleet.observe_report(_report("T1", 2, locked_by="sec", reason=XSS), False,
                                         console.clock())
    for path in ("/wing", "/tablets/T1", "/requests", "/audit"):
        html = (await client.get(path)).text
        assert "<script>alert(1)</script>" not in html, path
        assert "<img src=x" not in html, path
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in (await client.get("/requests")).text


def _report(device: str, version: int, *, locked_by: str, reason: str) -> ReportedState:
    return ReportedState(device=device, desired_version=version, lockdown_version=0,
                         lock=LockView(locked=True, source="device", by=locked_by,
                                       reason=reason, since=1),
                         profile="standard", at=1, boot_id="b", agent_version="t")
