"""The console in a real Chromium (Debian's, driven by Playwright), served over HTTPS by a real
gateway (`gateway.cli.serve`) with its wing-CA certificate, beside a real mutual-TLS broker and
simulated tablets that verify and apply what the gateway signs.

Set CELLBRIDGE_CONSOLE_SCREENSHOTS=DIR to save the wing map, a tablet page and the audit page.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import os
import shutil
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyotp
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.broker import free_port, wait_for_port
from gateway.cli import serve
from gateway.config import ConsoleConfig, GatewayConfig, TabletSeed
from provisioning import estate as est
from tests.gateway.tablet_peer import TabletPeer
from tests.support.broker import WingBroker
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS
from wire import topics
from wire.envelope import private_key_to_pem
from wire.topics import TabletChannel

TABLETS = [("T1", "C1", "L1"), ("T2", "C1", "L1"), ("T3", "C2", "L1"), ("T4", "C3", "L2")]

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = [
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed"),
    pytest.mark.timeout(240),
]


@dataclass
class Wing:
    url: str
    api_socket: Path
    ca_chain: Path
    peers: dict[str, TabletPeer]

    async def account(self, name: str, roles: list[str]) -> dict[str, Any]:
        """Made as from the gateway host (`staff account add`), through the control API."""
        transport = httpx.AsyncHTTPTransport(uds=str(self.api_socket))
        # argon2id at production cost on a loaded 2-core machine: more than httpx's default 5 s.
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway",
                                     timeout=30) as client:
            response = await client.post("/v1/accounts", json={
                "name": name, "display": name.title(), "roles": roles, "by": "test"})
        assert response.status_code == 200, response.text
        made: dict[str, Any] = response.json()
        return made


@pytest.fixture
async def wing(tmp_path: Path, broker: WingBroker) -> AsyncIterator[Wing]:
    assert broker.demo is not None
    material = broker.demo.estate.gateway_material(broker.demo.wing)
    key = tmp_path / "signing.key"
    key.write_bytes(private_key_to_pem(Ed25519PrivateKey.generate()))
    port = free_port()
    socket_path = Path(f"/tmp/cb-console-{os.getpid()}-{port}.sock")
    config = GatewayConfig(
        wing="A", state_dir=tmp_path / "state", signing_key=key, api_socket=socket_path,
        broker=broker.config(broker.gateway_tls()),
        tablets=[TabletSeed(id=i, cell=c, landing=ld) for i, c, ld in TABLETS],
        console=ConsoleConfig(host="127.0.0.1", port=port, cert=material / est.CONSOLE_CERT,
                              key=material / est.CONSOLE_KEY),
    )
    stop = asyncio.Event()
    server = asyncio.create_task(serve(config, stop))
    await asyncio.to_thread(wait_for_port, "127.0.0.1", port)
    from gateway.issuer import load_signing_key
    from wire.envelope import key_id

    public = load_signing_key(key).public_key()
    peers = {}
    async with contextlib.AsyncExitStack() as stack:
        for device, _cell, _landing in TABLETS:
            peer = TabletPeer(broker.host, broker.port, device, "A", {key_id(public): public},
                              tls=broker.context(broker.tablet_tls(device)))
            peers[device] = await stack.enter_async_context(peer)
            await peer.birth()
        yield Wing(f"https://127.0.0.1:{port}", socket_path, material / "ca.pem", peers)
        stop.set()
        await asyncio.wait_for(server, 30)


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def new_page(chromium: Any) -> Any:
    # The wing CA is not in Chromium's store: the certificate itself is checked by
    # test_the_console_serves_the_wing_ca_certificate against the wing's CA chain.
    context = await chromium.new_context(ignore_https_errors=True, accept_downloads=True)
    return await context.new_page()


async def sign_in(page: Any, wing: Wing, made: dict[str, Any], new_password: str) -> None:
    """The first sign-in: one-time password and TOTP code, then a password of one's own."""
    await page.goto(f"{wing.url}/signin")
    await page.get_by_label("Account name").fill(made["name"])
    await page.get_by_label("Password").fill(made["password"])
    if made["totp_uri"]:
        code = pyotp.TOTP(pyotp.parse_uri(made["totp_uri"]).secret).now()
        await page.get_by_label("Code from your authenticator").fill(code)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{wing.url}/password")
    await page.get_by_label("Current password").fill(made["password"])
    await page.get_by_label("New password (at least 12 characters)").fill(new_password)
    await page.get_by_label("New password again").fill(new_password)
    await page.get_by_role("button", name="Change password").click()
    await page.wait_for_url(f"{wing.url}/")


async def no_serious_axe_violations(page: Any) -> None:
    try:
        from axe_playwright_python.async_playwright import Axe
    except ImportError:  # pragma: no cover - the dev extra brings it
        pytest.skip("axe-playwright-python is not installed")
    results = await Axe().run(page)
    serious = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
               for v in results.response["violations"]
               if v["impact"] in ("serious", "critical")]
    assert serious == [], f"{page.url}: {serious}"


def screenshot_dir() -> Path | None:
    where = os.environ.get("CELLBRIDGE_CONSOLE_SCREENSHOTS")
    return Path(where) if where else None


async def test_the_console_serves_the_wing_ca_certificate(wing: Wing) -> None:
    context = ssl.create_default_context(cafile=str(wing.ca_chain))
    context.check_hostname = True
    async with httpx.AsyncClient(verify=context) as client:
        response = await client.get(f"{wing.url}/signin")
    assert response.status_code == 200
    assert response.headers["strict-transport-security"]


async def test_sign_in_with_totp_lock_a_cell_and_see_it_confirmed_live(
        wing: Wing, chromium: Any) -> None:
    made = await wing.account("sam", ["security", "officer"])
    page = await new_page(chromium)
    await sign_in(page, wing, made, "sam-long-password-1")
    await page.get_by_role("heading", name="Wing A").wait_for()
    await no_serious_axe_violations(page)
    # T2 is slow to answer: the count must move when it does, without a reload.
    wing.peers["T2"].answer = False
    await page.get_by_label("A cell").check()
    await page.get_by_label("Cell", exact=True).select_option("C1")
    await page.get_by_label("Reason (shown on the lock screen and audited)").fill("cell search")
    await page.get_by_role("button", name="Lock", exact=True).click()
    await page.wait_for_url("**/jobs/*")
    progress = page.locator("#progress")
    await playwright_api.expect(page.locator("#confirmed")).to_have_text("1")
    await playwright_api.expect(page.locator("#pending")).to_have_text("T2")
    await no_serious_axe_violations(page)
    peer = wing.peers["T2"]
    peer.answer = True
    await peer.report()
    await playwright_api.expect(page.locator("#confirmed")).to_have_text("2")
    await playwright_api.expect(page.locator("#state")).to_have_text("All confirmed.")
    await playwright_api.expect(progress).to_contain_text("None.")
    assert wing.peers["T1"].desired and wing.peers["T1"].desired.lock.locked
    # The map shows who locked them.
    await page.goto(f"{wing.url}/wing")
    await playwright_api.expect(page.locator(".tile", has_text="T1")).to_contain_text(
        "Locked by sam")
    shots = screenshot_dir()
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(shots / "wing-map.png"), full_page=True)
    await page.get_by_role("link", name="Tablet T1 details").click()
    await page.get_by_role("heading", name="Tablet T1").wait_for()
    await no_serious_axe_violations(page)
    if shots:
        await page.screenshot(path=str(shots / "tablet.png"), full_page=True)


async def test_filter_the_audit_and_export_it_as_csv(wing: Wing, chromium: Any) -> None:
    made = await wing.account("ada", ["security"])
    page = await new_page(chromium)
    await sign_in(page, wing, made, "ada-long-password-1")
    await page.get_by_label("A landing").check()
    await page.get_by_label("Landing", exact=True).last.select_option("L2")
    await page.get_by_label("Reason (shown on the lock screen and audited)").fill("landing count")
    await page.get_by_role("button", name="Lock", exact=True).click()
    await playwright_api.expect(page.locator("#state")).to_have_text("All confirmed.")
    await page.get_by_role("link", name="Audit").click()
    await page.get_by_label("Account").fill("ada")
    await page.get_by_label("Kind").select_option("lock")
    await page.get_by_role("button", name="Filter and verify the chain").click()
    await playwright_api.expect(page.locator("#verify")).to_contain_text("The chain verifies")
    rows = page.locator("#entries tbody tr")
    await playwright_api.expect(rows).to_have_count(1)
    await playwright_api.expect(rows.first).to_contain_text("staff:ada")
    await playwright_api.expect(rows.first).to_contain_text("landing:L2")
    await no_serious_axe_violations(page)
    shots = screenshot_dir()
    if shots:
        shots.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(shots / "audit.png"), full_page=True)
    async with page.expect_download() as info:
        await page.get_by_role("link", name="Export these entries as CSV").click()
    download = await info.value
    text = Path(await download.path()).read_text(encoding="utf-8")
    exported = list(csv.reader(io.StringIO(text)))
    assert [(r[2], r[3], r[4]) for r in exported[1:]] == [("staff:ada", "lock", "landing:L2")]


async def test_every_page_works_by_keyboard_and_has_no_serious_axe_violation(
        wing: Wing, chromium: Any) -> None:
    made = await wing.account("root", ["admin", "security", "it"])
    page = await new_page(chromium)
    await page.goto(f"{wing.url}/signin")
    await no_serious_axe_violations(page)
    # By keyboard alone: the name field has the focus, then the form goes in order.
    assert await page.evaluate("document.activeElement.id") == "name"
    await page.keyboard.type(made["name"])
    await page.keyboard.press("Tab")
    await page.keyboard.type(made["password"])
    await page.keyboard.press("Tab")
    await page.keyboard.type(pyotp.TOTP(pyotp.parse_uri(made["totp_uri"]).secret).now())
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{wing.url}/password")
    await no_serious_axe_violations(page)
    await page.get_by_label("Current password").fill(made["password"])
    await page.get_by_label("New password (at least 12 characters)").fill("root-long-password")
    await page.get_by_label("New password again").fill("root-long-password")
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"{wing.url}/")
    for path in ("/wing", "/requests", "/audit", "/accounts", "/tablets/T3", "/approvals",
                 "/curfew", "/policy", "/rollouts", "/web-grants", "/inventory", "/prisoners"):
        await page.goto(f"{wing.url}{path}")
        await no_serious_axe_violations(page)
        # The first Tab reaches the skip link, which takes the focus to the content.
        await page.keyboard.press("Tab")
        assert await page.evaluate("document.activeElement.textContent") == "Skip to content"
        await page.keyboard.press("Enter")
        assert await page.evaluate("document.activeElement.id") == "main"
    # At 200 % zoom (a 640 px wide window at scale 2) nothing needs a sideways scroll.
    zoomed = await (await chromium.new_context(
        ignore_https_errors=True, viewport={"width": 640, "height": 800},
        device_scale_factor=2, storage_state=await page.context.storage_state())).new_page()
    for path in ("/wing", "/audit", "/accounts", "/inventory"):
        await zoomed.goto(f"{wing.url}{path}")
        overflow = await zoomed.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, (path, overflow)


async def test_lifting_a_wing_lockdown_needs_a_second_person_in_another_browser(
        wing: Wing, chromium: Any) -> None:
    first = await new_page(chromium)
    await sign_in(first, wing, await wing.account("sam", ["security"]), "sam-long-password-1")
    await first.get_by_label("The whole wing").check()
    await first.get_by_label("Reason (shown on the lock screen and audited)").fill("incident")
    await first.get_by_role("button", name="Lock", exact=True).click()
    await playwright_api.expect(first.locator("#state")).to_have_text("All confirmed.")
    await first.goto(f"{wing.url}/wing")
    await first.get_by_label("The whole wing").check()
    await first.get_by_label("Reason (shown on the lock screen and audited)").fill("all clear")
    await first.get_by_role("button", name="Unlock", exact=True).click()
    await first.wait_for_url(f"{wing.url}/approvals")
    await playwright_api.expect(first.locator("main")).to_contain_text(
        "another person must approve it")
    await no_serious_axe_violations(first)
    assert all(p.lockdown and p.lockdown.lock.locked for p in wing.peers.values())

    second = await new_page(chromium)  # a browser context of its own: another person
    await sign_in(second, wing, await wing.account("ada", ["security"]), "ada-long-password-1")
    await second.get_by_role("link", name="Approvals").click()
    await playwright_api.expect(second.locator("main")).to_contain_text("Asked by sam")
    await second.get_by_role("button", name="Approve: lift the lockdown").click()
    await playwright_api.expect(second.locator("#state")).to_have_text("All confirmed.")
    await playwright_api.expect(second.locator("h1")).to_contain_text("wing:A")
    assert all(p.lockdown and not p.lockdown.lock.locked and p.lockdown.lock.by == "sam+ada"
               for p in wing.peers.values())


async def test_start_a_rollout_and_cancel_it_with_a_reason(wing: Wing, chromium: Any) -> None:
    page = await new_page(chromium)
    await sign_in(page, wing, await wing.account("ivy", ["it"]), "ivy-long-password-1")
    await page.get_by_role("link", name="Rollouts").click()
    await page.get_by_label("Rollout name").fill("os-1.2")
    await page.get_by_label("Release target (e.g. os/cellbridge-os-1.2.raucb)").fill(
        "os/cellbridge-os-1.2.raucb")
    await page.get_by_label("Version").fill("1.2")
    await page.get_by_label("Canary tablets").select_option(["T1"])
    await page.get_by_role("button", name="Start").click()
    await page.wait_for_url(f"{wing.url}/rollouts")
    await playwright_api.expect(page.locator(".ro-stage")).to_have_text("canary")
    for _ in range(100):  # the canary tablet is offered the release
        desired = wing.peers["T1"].desired
        if desired and desired.update:
            break
        await asyncio.sleep(0.05)
    assert desired and desired.update and desired.update.version == "1.2"
    await no_serious_axe_violations(page)
    await page.get_by_label("Reason to cancel os-1.2").fill("wrong build")
    await page.get_by_role("button", name="Cancel os-1.2").click()
    await page.wait_for_url(f"{wing.url}/rollouts")
    await playwright_api.expect(page.locator(".ro-stage")).to_have_text(
        "cancelled: canary: cancelled by ivy: wrong build")
    await playwright_api.expect(page.get_by_role("button", name="Cancel os-1.2")).to_have_count(0)
    for _ in range(100):  # it had not started: the offer is withdrawn
        desired = wing.peers["T1"].desired
        if desired and desired.update is None:
            break
        await asyncio.sleep(0.05)
    assert desired and desired.update is None


async def test_assign_a_request_and_answer_it(wing: Wing, chromium: Any) -> None:
    from wire.requests import Request
    from wire.topics import TabletChannel

    await wing.account("bob", ["officer"])
    request = Request(id="a" * 32, type="healthcare", text="<script>x()</script> tooth",
                      created=1)
    await wing.peers["T3"].publish(TabletChannel.REQUEST, request.model_dump_json().encode())
    page = await new_page(chromium)
    await sign_in(page, wing, await wing.account("ann", ["officer"]), "ann-long-password-1")
    await page.get_by_role("link", name="Requests").click()
    for _ in range(50):  # the request reaches the gateway
        if await page.locator(".request").count():
            break
        await asyncio.sleep(0.1)
        await page.reload()
    section = page.locator(".request")
    await playwright_api.expect(section.locator(".text")).to_have_text(
        "<script>x()</script> tooth")
    await section.get_by_label("Give to").select_option("bob")
    await section.get_by_role("button", name="Assign").click()
    await page.wait_for_url(f"{wing.url}/requests")
    await playwright_api.expect(page.locator(".assignee")).to_have_text("Given to bob by ann")
    await no_serious_axe_violations(page)
    await page.get_by_label("Reply (closes the request)").fill("nurse at 3pm")
    await page.get_by_role("button", name="Send reply").click()
    await page.wait_for_url(f"{wing.url}/requests")
    await playwright_api.expect(page.locator("main")).to_contain_text("No request waits.")
    await page.get_by_role("link", name="All requests").click()
    await playwright_api.expect(page.locator("main")).to_contain_text(
        "Answered by ann: nurse at 3pm")


async def test_a_wipe_asked_for_by_one_account_is_approved_only_by_another_in_a_second_browser(
        wing: Wing, chromium: Any) -> None:
    first = await new_page(chromium)
    await sign_in(first, wing, await wing.account("sam", ["security"]), "sam-long-password-1")
    await first.goto(f"{wing.url}/tablets/T3")
    await first.get_by_label("Reason", exact=True).fill("handed back <b>broken</b>")
    await first.get_by_role("button", name="Wipe this tablet").click()
    await first.wait_for_url(f"{wing.url}/approvals")
    await playwright_api.expect(first.locator("main")).to_contain_text("Wipe: T3")
    await playwright_api.expect(first.locator("main")).to_contain_text(
        "another person must approve it")
    await playwright_api.expect(first.get_by_role("button", name="Approve: wipe the tablet")
                                ).to_have_count(0)
    await no_serious_axe_violations(first)
    # Nor can the first account approve it by asking the API directly.
    csrf = await first.locator("form.signout input[name=csrf_token]").get_attribute("value")
    waiting = (await (await first.request.get(f"{wing.url}/approvals.json")).json())["waiting"]
    own = await first.request.post(f"{wing.url}/approvals/{waiting[0]['id']}/approve.json",
                                   headers={"x-csrf-token": csrf})
    assert own.status == 409
    peer = wing.peers["T3"]
    cmd = topics.tablet("T3", TabletChannel.CMD)
    await peer.client.subscribe(cmd, qos=1)

    second = await new_page(chromium)  # a browser context of its own: another person
    await sign_in(second, wing, await wing.account("ada", ["security"]), "ada-long-password-1")
    await second.get_by_role("link", name="Approvals").click()
    await playwright_api.expect(second.locator("main")).to_contain_text("Asked by sam")
    await second.get_by_role("button", name="Approve: wipe the tablet").click()
    await second.wait_for_url(f"{wing.url}/tablets/T3")
    row = second.locator("#jobs tbody tr")
    await playwright_api.expect(row).to_contain_text("ada")
    await playwright_api.expect(row).to_contain_text("handed back <b>broken</b>")
    await peer.wait_until(lambda: bool(peer.on(cmd)))
    sent = [json.loads(json.loads(r.payload)["body"]) for r in peer.on(cmd)]
    assert [(j["kind"], j["by"]) for j in sent] == [("wipe", "console:sam+console:ada")]


async def test_add_a_prisoner_move_them_and_reset_their_pin(wing: Wing, chromium: Any) -> None:
    page = await new_page(chromium)
    await sign_in(page, wing, await wing.account("sam", ["security"]), "sam-long-password-1")
    await page.get_by_role("link", name="Prisoners").click()
    await page.get_by_label("Prison number (e.g. A1234BC)").fill("A1234BC")
    await page.get_by_label("Full name").fill("Jo <i>Bloggs</i>")
    await page.get_by_label("Their cell").select_option("C1")
    await page.get_by_role("button", name="Add", exact=True).click()
    await page.wait_for_url(f"{wing.url}/prisoners/A1234BC")
    await playwright_api.expect(page.locator("main")).to_contain_text("Jo <i>Bloggs</i>")
    await no_serious_axe_violations(page)

    await page.get_by_label("Move to cell").select_option("C3")
    await page.get_by_role("button", name="Move", exact=True).click()
    await playwright_api.expect(page.locator("#cell")).to_have_text("C3, L2")

    await page.get_by_role("button", name="Reset PIN").click()
    code = (await page.locator("#code").text_content() or "").strip()
    assert len(code) == 8 and code.isdigit()
    await no_serious_axe_violations(page)
    await page.get_by_role("link", name="Back to A1234BC").click()
    await playwright_api.expect(page.locator("#credential")).to_contain_text(
        "One-time code issued")
    assert code not in await page.content()
    await page.goto(f"{wing.url}/prisoners")
    await no_serious_axe_violations(page)
    # The new cell's tablet was issued its occupant; the old cell's were not left with them.
    t4 = wing.peers["T4"]
    await t4.wait_until(lambda: bool(t4.desired and t4.desired.occupants.people
                                     and t4.desired.occupants.people[0].pin_epoch))
    assert t4.desired and [p.number for p in t4.desired.occupants.people] == ["A1234BC"]
    for device in ("T1", "T2"):
        desired = wing.peers[device].desired
        assert desired is None or desired.occupants.people == ()
