"""A real Chromium (Debian's, driven by Playwright) browsing through a tablet's forwarder, the
gateway's TLS front and real Squid to HTTPS origins on loopback. Chromium trusts the origins'
certificate by its key only (`--ignore-certificate-errors-spki-list`): every other certificate
is checked as usual, and nothing is turned off wholesale."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import time
import zoneinfo
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from provisioning.estate import revoke
from tests.support import chromium
from tests.web.support import curfew_policy
from tests.web.wing import RECHECK_S, WebWing

pytestmark = [
    pytest.mark.skipif(not chromium.installed(), reason="Debian's chromium is not installed"),
    pytest.mark.timeout(180),
]
pytest.importorskip("playwright.async_api")

REFUSED = "net::ERR_TUNNEL_CONNECTION_FAILED"
CUT_S = RECHECK_S + 1.0
"""Chromium keeps its tunnels open and reuses them: the gateway cuts an open tunnel within
RECHECK_S of a change, and from then on Chromium must open a new one, which is refused."""


@contextlib.asynccontextmanager
async def browser(wing: WebWing, device: str) -> AsyncIterator[Any]:
    """A fresh Chromium whose proxy is `device`'s forwarder; a page."""
    async with wing.forwarder(device) as port:
        trusted = chromium.spki_sha256((wing.ca.directory / "origin.pem").read_bytes())
        async with chromium.chromium_context(proxy=f"http://127.0.0.1:{port}",
                                             trust_spki=(trusted,)) as context:
            yield await context.new_page()


async def shown(page: Any, host: str) -> str:
    """The page's text, or the network error Chromium gives for it (never from its cache)."""
    try:
        await page.goto(f"https://{host}/?at={time.monotonic_ns()}", timeout=15_000)
    except Exception as exc:  # playwright's Error: the net:: code is in its message
        return str(exc).splitlines()[0]
    return str(await page.inner_text("body"))


async def test_an_allowed_site_loads_in_chromium_and_one_not_granted_is_refused(
        web_wing: WebWing):
    async with browser(web_wing, "T1") as page:
        assert await shown(page, "www.gov.uk") == "hello from www.gov.uk"
        assert REFUSED in await shown(page, "www.moneyhelper.org.uk")
    assert web_wing.refusal_of("www.moneyhelper.org.uk") == "not_listed"


async def test_chromium_with_an_untrusted_origin_certificate_refuses_the_page(web_wing: WebWing):
    """The trust given to the origins is their key only: the proof that the check is on."""
    async with web_wing.forwarder("T1") as port, chromium.chromium_context(
            proxy=f"http://127.0.0.1:{port}") as context:
        page = await context.new_page()
        assert "ERR_CERT_AUTHORITY_INVALID" in await shown(page, "www.gov.uk")


async def test_a_grants_expiry_stops_chromiums_next_connection(web_wing: WebWing):
    grant, expires = await asyncio.to_thread(web_wing.restart_with_grant, "T2", "find-a-job", 25)
    async with browser(web_wing, "T2") as page:
        assert await shown(page, "findajob.dwp.gov.uk") == "hello from findajob.dwp.gov.uk", \
            web_wing.refusal_of("findajob.dwp.gov.uk")
        await asyncio.sleep(max(0.0, expires - time.time()) + CUT_S)
        assert REFUSED in await shown(page, "findajob.dwp.gov.uk")
    assert web_wing.refusal_of("findajob.dwp.gov.uk") == "not_listed"
    listed = web_wing.gateway.staff_json("web", "list", "--device", "T2")
    assert [(g["id"], g["state"]) for g in listed] == [(grant, "expired")]


def local_minute(wing: WebWing, offset_min: int) -> str:
    zone = zoneinfo.ZoneInfo("Europe/London")  # the example policy's timezone
    moment = dt.datetime.now(zone) + dt.timedelta(minutes=offset_min)
    return moment.strftime("%Y-%m-%dT%H:%M")


async def test_a_curfew_stops_chromium(web_wing: WebWing, tmp_path: Path):
    async with browser(web_wing, "T1") as page:
        assert await shown(page, "www.gov.uk") == "hello from www.gov.uk"
        policy = curfew_policy(tmp_path / "curfew.toml", local_minute(web_wing, -1),
                               local_minute(web_wing, 60))
        applied = await web_wing.gateway.acli("policy", "apply", str(policy))
        assert applied.returncode == 0, applied.stderr
        await asyncio.sleep(CUT_S)
        assert REFUSED in await shown(page, "www.gov.uk")
    assert web_wing.refusal_of("www.gov.uk") == "curfew"


async def test_a_lock_stops_chromium(web_wing: WebWing):
    async with browser(web_wing, "T1") as page:
        assert await shown(page, "www.gov.uk") == "hello from www.gov.uk"
        locked = await web_wing.gateway.acli("lock", "--device", "T1", "--reason", "search")
        assert locked.returncode == 0, locked.stderr
        await asyncio.sleep(CUT_S)
        assert REFUSED in await shown(page, "www.gov.uk")
    assert web_wing.refusal_of("www.gov.uk") == "locked"


async def test_a_revoked_tablet_certificate_stops_chromium(web_wing: WebWing):
    device = f"WB{os.getpid() % 10000}"
    web_wing.gateway.register(device, "C9", "L9")
    assert web_wing.gateway.cli("policy", "profile", "resettlement", "--device",
                                  device).returncode == 0
    async with browser(web_wing, device) as page:
        assert await shown(page, "www.gov.uk") == "hello from www.gov.uk"
        revoke(web_wing.estate.estate, device, "tablet lost", None)
        await asyncio.sleep(CUT_S)
        assert "hello from" not in await shown(page, "www.gov.uk")
    assert web_wing.refusal_of("www.gov.uk") == "proxy_unreachable"
