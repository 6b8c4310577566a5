"""The prison console in a real Chromium (Debian's, driven by Playwright), served over HTTPS by
the prison service itself (`prison.cli.run_with_console`, as `prison run` serves it) with the
certificate `provision prison` issued, beside real mosquitto brokers and bridges for three small
wings, real wing gateways and tablets' agents. Accounts are made with the real `prison account
add`. A security officer locks the prison down from the console and watches every wing confirm;
her own request to lift it is refused to her; a second person lifts it and every tablet unlocks.
Run once per store backend: the service, the console and the CLI each hold a connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.console import first_sign_in
from cellbridge.fleet import wait_until
from common.broker import free_port, wait_for_port
from common.staff_web.config import ConsoleConfig
from provisioning import prison as prison_pki
from tests.prison.rig import PrisonRig
from tests.support.chromium import CHROMIUM, chromium_context, spki_sha256

playwright_api = pytest.importorskip("playwright.async_api")
pytestmark = [
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="Debian's chromium is not installed"),
    pytest.mark.timeout(300),
]


async def account(rig: PrisonRig, name: str, roles: str) -> dict[str, Any]:
    code, out = await rig.cli("account", "add", name, "--display", name.title(), "--roles",
                              roles, "--json")
    assert code == 0, out
    made: dict[str, Any] = json.loads(out)
    return made


@contextlib.asynccontextmanager
async def signed_in(url: str, made: dict[str, Any], cert: Path) -> AsyncIterator[Any]:
    """A browser of one's own (its own profile, trusting the console certificate's key alone:
    the prison CA is not in Chromium's store), after the first sign-in, on the prison view."""
    async with chromium_context(trust_spki=(spki_sha256(cert.read_bytes()),)) as browser:
        page = await browser.new_page()
        await first_sign_in(page, url, made, f"{made['name']}-correct-horse-battery")
        yield page


async def confirmed(page: Any) -> None:
    """The command's page, refreshing itself, says every tablet of every wing confirmed."""
    await playwright_api.expect(page.locator("#summary")).to_have_text(
        "Confirmed by every tablet of every wing.", timeout=60_000)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_prison_lockdown_from_the_console_is_confirmed_and_lifted_by_two_people(
        rig: PrisonRig, backend: str, request: pytest.FixtureRequest) -> None:
    if backend == "postgresql":
        rig.postgresql = request.getfixturevalue("postgres_dsn")
    service_dir = prison_pki.prison_dir(rig.estate) / "service"
    port = free_port()
    rig.console = ConsoleConfig(host="127.0.0.1", port=port,
                                cert=service_dir / prison_pki.CONSOLE_CERT,
                                key=service_dir / prison_pki.CONSOLE_KEY)
    url = f"https://127.0.0.1:{port}"
    alice = await account(rig, "alice", "security")
    bob = await account(rig, "bob", "security")
    async with rig.running() as agents, contextlib.AsyncExitStack() as stack:
        tablets = [a for wing in agents.values() for a in wing]
        await asyncio.to_thread(wait_for_port, "127.0.0.1", port)
        trust = ssl.create_default_context(cafile=str(service_dir / "ca.pem"))
        async with httpx.AsyncClient(verify=trust) as plain:  # the prison CA's certificate
            assert (await plain.get(f"{url}/signin")).status_code == 200
        for wing in rig.wings:
            await rig.wait_link(wing, up=True)

        page = await stack.enter_async_context(signed_in(url, alice, rig.console.cert))
        rows = page.locator("tr.wing-row")
        await playwright_api.expect(rows).to_have_count(3)
        await page.get_by_label("Reason (goes into every wing's audit)").fill("incident <b>")
        await page.get_by_label("I confirm: lock every tablet in every wing").check()
        await page.get_by_role("button", name="Lock down the prison").click()
        await page.wait_for_url(f"{url}/commands/1")
        await confirmed(page)
        assert await page.locator("tr.confirmation td:last-child").all_inner_texts() == [
            "confirmed"] * 3
        assert all(a.state.locked for a in tablets)
        assert all(a.lockdown is not None and a.lockdown.lock.by == "prison:P:console:alice"
                   for a in tablets)
        await page.goto(f"{url}/wings/B")
        await playwright_api.expect(page.locator("tbody tr")).to_have_count(
            len(rig.tablets["B"]))
        assert "B-01" in await page.locator("tbody").inner_text()

        await page.goto(f"{url}/prison")
        await page.get_by_label("Reason", exact=True).fill("all clear")
        await page.get_by_role("button", name="Ask to lift the lockdown").click()
        await page.wait_for_url(f"{url}/approvals")
        await page.get_by_role("button", name="Approve: lift the prison lockdown").click()
        await playwright_api.expect(page.locator("p.error")).to_have_text(
            "a second, different person must approve this")
        await asyncio.sleep(1)
        assert all(a.state.locked for a in tablets)

        second = await stack.enter_async_context(signed_in(url, bob, rig.console.cert))
        await second.goto(f"{url}/approvals")
        await second.get_by_role("button", name="Approve: lift the prison lockdown").click()
        await second.wait_for_url(f"{url}/commands/2")
        await confirmed(second)
        await wait_until(lambda: not any(a.state.locked for a in tablets), 20)
        assert "console:alice+console:bob" in await second.locator("main").inner_text()

        code, out = await rig.cli("status", "--json")
        assert code == 0, out
        assert {w["command_applied"] for w in json.loads(out)["wings"]} == {2}
