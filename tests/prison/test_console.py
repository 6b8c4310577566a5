"""The prison console in-process (httpx over ASGI) on a real prison store, once with SQLite and
once with a real PostgreSQL server: accounts and sign-in with TOTP, CSRF, the rights table, a
prison lockdown recorded and signed as the console account, the two-person lift (the asker
refused under any of their names, a second person lifts), and text from the wings and from staff
shown inert. The lockdown reaching real tablets through real bridges is test_console_browser.py."""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import tomli_w
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from common.staff_web.accounts import MAX_FAILURES
from common.staff_web.roles import Role
from prison import lift_requests
from prison.cli import prison
from prison.config import PrisonConfig
from prison.console.app import build_console, make_console_app
from prison.console.web import PrisonConsole
from prison.staff_events import newest as events
from prison.store import open_store
from tests.prison.test_store import report, summary
from tests.support.staff_web import TEST_HASHER, Staff, browser, make_staff, sign_in
from wire.documents import Status
from wire.envelope import (
    Accepted,
    key_id,
    open_envelope,
    private_key_from_pem,
    private_key_to_pem,
)
from wire.prison import PrisonLockdown, RolloutProgress, WingSummary, prison_audience

WINGS = ["A", "B"]
CONFIRM = {"confirm": "lock every wing"}


@pytest.fixture
def config(tmp_path: Path, store_location: tuple[Path, str | None]) -> PrisonConfig:
    key = tmp_path / "signing.key"
    key.write_bytes(private_key_to_pem(Ed25519PrivateKey.generate()))
    return PrisonConfig(prison="P", state_dir=store_location[0].parent, signing_key=key,
                        wings=WINGS, postgresql=store_location[1])


@pytest.fixture
def console(config: PrisonConfig) -> Iterator[PrisonConsole]:
    made = build_console(config, TEST_HASHER)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def app(console: PrisonConsole) -> FastAPI:
    return make_console_app(console)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(app) as client:
        yield client


@contextlib.asynccontextmanager
async def signed_in(app: FastAPI, console: PrisonConsole, staff: Staff
                    ) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(app) as client:
        response = await sign_in(client, console, staff)
        assert response.status_code == 200, response.text
        yield client


async def test_a_security_account_signs_in_only_with_its_totp_code(
        client: httpx.AsyncClient, console: PrisonConsole) -> None:
    alice = make_staff(console, "alice", Role.SECURITY)
    assert (await sign_in(client, console, alice, code="")).status_code == 401
    assert (await sign_in(client, console, alice, code="000000")).status_code in (401,)
    response = await sign_in(client, console, alice)
    assert response.status_code == 200
    assert response.json()["account"]["roles"] == ["security"]
    cookie = response.headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    page = await client.get("/prison")
    assert page.status_code == 200 and "Prison P" in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    actions = [(e.actor, e.action) for e in events(console.store)]
    assert ("staff:alice", "sign_in") in actions
    assert actions.count(("staff:alice", "sign_in_failed")) == 2


async def test_a_state_change_without_the_csrf_token_is_refused(
        app: FastAPI, console: PrisonConsole) -> None:
    alice = make_staff(console, "alice", Role.SECURITY)
    async with signed_in(app, console, alice) as client:
        del client.headers["x-csrf-token"]
        response = await client.post("/lockdown.json", data={"reason": "incident", **CONFIRM})
        assert response.status_code == 403 and "CSRF" in response.json()["detail"]
        wrong = await client.post("/lockdown.json", data={"reason": "incident", **CONFIRM},
                                  headers={"x-csrf-token": "not-the-token"})
        assert wrong.status_code == 403
    assert console.store.latest_command() is None


async def test_an_account_is_locked_out_after_repeated_failures(
        client: httpx.AsyncClient, console: PrisonConsole) -> None:
    bob = make_staff(console, "bob", Role.OFFICER)
    for _ in range(MAX_FAILURES):
        wrong = Staff("bob", "not-his-password-at-all", None)
        assert (await sign_in(client, console, wrong)).status_code == 401
    assert (await sign_in(client, console, bob)).status_code == 401
    assert ("system", "account_locked") in [(e.actor, e.action) for e in events(console.store)]


async def test_an_officer_sees_the_prison_but_is_refused_the_lockdown(
        app: FastAPI, console: PrisonConsole) -> None:
    officer = make_staff(console, "olly", Role.OFFICER)
    async with signed_in(app, console, officer) as client:
        assert (await client.get("/prison.json")).status_code == 200
        assert (await client.get("/wings/A.json")).status_code == 200
        page = await client.get("/prison")
        assert "Lock down the prison" not in page.text
        refused = await client.post("/lockdown.json", data={"reason": "incident", **CONFIRM})
        assert refused.status_code == 403
        assert (await client.post("/unlock.json", data={"reason": "x"})).status_code == 403
    assert console.store.latest_command() is None


async def test_a_lockdown_needs_its_confirmation_and_is_signed_as_the_console_account(
        app: FastAPI, console: PrisonConsole, config: PrisonConfig) -> None:
    alice = make_staff(console, "alice", Role.SECURITY)
    async with signed_in(app, console, alice) as client:
        unconfirmed = await client.post("/lockdown.json", data={"reason": "incident"})
        assert unconfirmed.status_code == 422
        assert console.store.latest_command() is None
        response = await client.post("/lockdown.json", data={"reason": "incident", **CONFIRM})
        assert response.status_code == 200, response.text
        version = response.json()["command"]
        followed = (await client.get(f"/commands/{version}.json")).json()
    command = console.store.latest_command()
    assert command is not None and command.version == version
    public = private_key_from_pem(config.signing_key.read_bytes()).public_key()
    verdict = open_envelope(command.envelope, PrisonLockdown, trusted_keys={key_id(public): public},
                            audience=prison_audience("P"), now_ms=console.clock())
    assert isinstance(verdict, Accepted) and verdict.document.by == "console:alice"
    assert (command.locked, command.by, command.reason) == (True, "console:alice", "incident")
    assert followed["confirmed"] is False
    assert [(w["wing"], w["pending"]) for w in followed["wings"]] == [
        ("A", [f"wing: has not applied command {version}"]),
        ("B", [f"wing: has not applied command {version}"])]
    assert ("staff:alice", "prison_lock") in [(e.actor, e.action) for e in events(console.store)]


async def test_the_asker_is_refused_as_approver_and_a_second_person_lifts_it(
        app: FastAPI, console: PrisonConsole) -> None:
    alice = make_staff(console, "alice", Role.SECURITY)
    bob = make_staff(console, "bob", Role.SECURITY)
    async with signed_in(app, console, alice) as first:
        asked = await first.post("/unlock.json", data={"reason": "all clear"})
        assert asked.status_code == 200, asked.text
        request_id = asked.json()["awaiting_approval"]["id"]
        assert asked.json()["awaiting_approval"]["requested_by"] == "console:alice"
        refused = await first.post(f"/approvals/{request_id}/approve.json")
        assert refused.status_code == 403
        assert refused.json()["detail"] == "a second, different person must approve this"
    assert console.store.latest_command() is None
    async with signed_in(app, console, bob) as second:
        waiting = (await second.get("/approvals.json")).json()["waiting"]
        assert [w["id"] for w in waiting] == [request_id]
        approved = await second.post(f"/approvals/{request_id}/approve.json")
        assert approved.status_code == 200, approved.text
        assert approved.json()["by"] == "console:alice+console:bob"
    command = console.store.latest_command()
    assert command is not None and (command.locked, command.by) == (
        False, "console:alice+console:bob")
    actions = [(e.actor, e.action) for e in events(console.store)]
    assert ("staff:alice", "prison_unlock_refused") in actions
    assert ("staff:bob", "prison_unlock_approve") in actions


async def test_an_os_account_and_a_console_account_of_one_name_are_one_person(
        app: FastAPI, console: PrisonConsole) -> None:
    """`prison unlock` by the OS account carol: the console account carol cannot approve it."""
    asked = lift_requests.ask(console.store, "all clear", "os:carol", console.clock())
    carol = make_staff(console, "carol", Role.SECURITY)
    async with signed_in(app, console, carol) as client:
        refused = await client.post(f"/approvals/{asked.id}/approve.json")
        assert refused.status_code == 403
    assert console.store.latest_command() is None


async def test_text_from_the_wings_and_from_staff_is_shown_as_text(
        app: FastAPI, console: PrisonConsole) -> None:
    payload = "<script>alert(1)</script>"
    console.store.put_summary("A", WingSummary(
        at=console.clock(), tablets=1, online=1, locked=0, in_curfew=0,
        rollouts=(RolloutProgress(id="r1", version=f"1.0{payload}"[:64], stage="canary",
                                  tablets=1, reason=payload),)))
    alice = make_staff(console, "alice", Role.SECURITY)
    async with signed_in(app, console, alice) as client:
        asked = await client.post("/unlock.json", data={"reason": "<img src=x onerror=alert(2)>"})
        assert asked.status_code == 200
        prison_page = (await client.get("/prison")).text
        approvals_page = (await client.get("/approvals")).text
    assert payload not in prison_page and html.escape(payload, quote=False) in prison_page.replace(
        "&#39;", "'").replace("&#34;", '"')
    assert "<img src=x" not in approvals_page and "&lt;img src=x onerror=alert(2)&gt;" in approvals_page


def test_the_accounts_table_comes_with_the_store_on_both_backends(
        store_location: tuple[Path, str | None]) -> None:
    store = open_store(*store_location)
    try:
        assert store.schema_version() >= 4
        assert store.execute("SELECT COUNT(*) FROM staff_accounts").fetchone()[0] == 0
    finally:
        store.close()


async def test_the_prison_view_and_a_wings_tablets_are_what_prison_status_shows(
        app: FastAPI, console: PrisonConsole, config: PrisonConfig, tmp_path: Path) -> None:
    store = console.store
    store.set_link("A", True, 1_000)
    store.put_status("A", "A-01", Status(state="online", boot_id="b", at=1_100))
    store.put_reported("A", report("A-01", 1_200, locked=True))
    store.put_reported("A", report("A-02", 1_300, locked=False))
    store.put_summary("A", summary(1_400, online=1))
    path = tmp_path / "prison.toml"
    path.write_text(tomli_w.dumps(config.model_dump(mode="json", exclude_none=True)))
    status = CliRunner().invoke(prison, ["status", "--json", "--wing", "A", "--config",
                                         str(path)])
    assert status.exit_code == 0, status.output
    shown = json.loads(status.output)
    officer = make_staff(console, "olly", Role.OFFICER)
    async with signed_in(app, console, officer) as client:
        view = (await client.get("/prison.json")).json()
        wing = (await client.get("/wings/A.json")).json()
        page = (await client.get("/prison")).text
    assert view["wings"] == shown["wings"]
    assert wing["tablets"] == shown["tablets"]
    assert [w["link"] for w in view["wings"]] == ["up", "unknown"]
    assert "r1 2.0: canary; 1/4 succeeded" in page
