"""The wing's web path end to end, on real parts: a tablet's forwarder, the gateway's TLS front
(client certificate), real Squid (peek then splice, the gateway's helper), HTTPS origins on
loopback. Each refusal is checked for its reason and for its line in the browsing record."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.web.support import browse
from tests.web.wing import WebWing

pytestmark = pytest.mark.timeout(180)


async def log_of(wing: WebWing, device: str, host: str, timeout: float = 10.0) -> list[dict]:
    """The browsing record's entries for `device` and `host` (waits for the access log)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await wing.gateway.astaff("web", "log", "--device", device, "--json")
        assert result.returncode == 0, result.stderr
        import json
        rows = [r for r in json.loads(result.stdout) if r["host"] == host]
        if rows or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.3)


async def test_an_allowed_site_loads_and_one_not_allowed_is_refused(web_wing: WebWing):
    async with web_wing.forwarder("T1") as port:
        page = await browse(port, "www.gov.uk", web_wing.ca)
        assert (page.status, b"hello from www.gov.uk" in page.body) == (200, True)
        refused = await browse(port, "www.moneyhelper.org.uk", web_wing.ca)
        assert refused.status == 403
    allowed = await log_of(web_wing, "T1", "www.gov.uk")
    assert allowed and allowed[-1]["allowed"] and allowed[-1]["bytes_in"] > 0
    denied = await log_of(web_wing, "T1", "www.moneyhelper.org.uk")
    assert denied and not denied[-1]["allowed"]
    assert "not_listed" in denied[-1]["reason"]
