"""Open tunnels cut, end to end through real Squid: a grant that expires, and a curfew that
starts, while a tablet streams from an allowed origin — the open tunnel is closed within the
bound docs/content-control.md states (the front re-decides open tunnels every `recheck_s`, and
at once when a grant expires), and the next CONNECT is refused with its reason. Likewise a
tablet certificate revoked while its tunnel is open (the front re-reads the CRL)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import ssl
import time
import zoneinfo
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from provisioning.estate import revoke
from tests.web.support import browse, curfew_policy
from tests.web.wing import RECHECK_S, WebWing

pytestmark = pytest.mark.timeout(240)

BOUND_S = RECHECK_S + 1.5
"""How long an open tunnel may outlive the change that ends it (as in the lock test)."""


@contextlib.asynccontextmanager
async def streaming(port: int, host: str, wing: WebWing
                    ) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """An open tunnel through the forwarder to `host`, the origin sending a line every 0.1 s."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"CONNECT {host}:443 HTTP/1.1\r\n\r\n".encode())
        await writer.drain()
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        await writer.start_tls(wing.ca.client_context(), server_hostname=host)
        writer.write(f"GET /stream HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        await writer.drain()
        assert b"tick" in await asyncio.wait_for(reader.readuntil(b"tick\n"), 10)
        yield reader, writer
    finally:
        writer.transport.abort()


async def cut_at(reader: asyncio.StreamReader, timeout: float) -> float:
    """Read the stream until the tunnel is cut; the wall-clock time it was."""
    with contextlib.suppress(ConnectionError, OSError, ssl.SSLError,
                             asyncio.IncompleteReadError):
        while await asyncio.wait_for(reader.read(4096), timeout):
            pass
    return time.time()


async def test_a_grants_expiry_cuts_the_open_tunnel_in_bounded_time_and_refuses_the_next(
        web_wing: WebWing):
    grant, expires = await asyncio.to_thread(web_wing.restart_with_grant, "T2", "find-a-job", 20)
    async with web_wing.forwarder("T2") as port, \
            streaming(port, "findajob.dwp.gov.uk", web_wing) as (reader, _):
        assert time.time() < expires, "the gateway took the whole grant to restart"
        cut = await cut_at(reader, expires - time.time() + 10)
        assert expires - 0.5 <= cut < expires + BOUND_S, \
            f"cut {cut - expires:+.2f}s from the expiry"
        refused = await browse(port, "findajob.dwp.gov.uk", web_wing.ca)
        assert refused.status == 403
        assert web_wing.refusal_of("findajob.dwp.gov.uk") == "not_listed"
    listed = web_wing.gateway.staff_json("web", "list", "--device", "T2")
    assert [(g["id"], g["state"]) for g in listed] == [(grant, "expired")]


def next_minute(zone: zoneinfo.ZoneInfo, at_least_s: float) -> dt.datetime:
    """The first whole local minute at least `at_least_s` from now (the policy's grain)."""
    moment = dt.datetime.now(zone) + dt.timedelta(seconds=at_least_s)
    return moment.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)


@pytest.mark.slow  # waits for the wall clock's next minute: up to 70 s
async def test_a_curfew_that_starts_cuts_the_open_tunnel_in_bounded_time_and_refuses_the_next(
        web_wing: WebWing, tmp_path: Path):
    zone = zoneinfo.ZoneInfo("Europe/London")  # the example policy's timezone
    starts = next_minute(zone, at_least_s=10)
    policy = curfew_policy(tmp_path / "curfew.toml", starts.strftime("%Y-%m-%dT%H:%M"),
                           (starts + dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"))
    applied = await web_wing.gateway.acli("policy", "apply", str(policy))
    assert applied.returncode == 0, applied.stderr
    async with web_wing.forwarder("T1") as port, \
            streaming(port, "www.gov.uk", web_wing) as (reader, _):
        begins = starts.timestamp()
        cut = await cut_at(reader, begins - time.time() + 10)
        assert begins - 0.5 <= cut < begins + BOUND_S, f"cut {cut - begins:+.2f}s from the start"
        refused = await browse(port, "www.gov.uk", web_wing.ca)
        assert refused.status == 403
        assert web_wing.refusal_of("www.gov.uk") == "curfew"


async def test_a_revoked_certificate_cuts_its_open_tunnel_in_bounded_time(web_wing: WebWing):
    device = f"WC{os.getpid() % 10000}"
    web_wing.gateway.register(device, "C9", "L9")
    assert web_wing.gateway.cli("policy", "profile", "resettlement", "--device",
                                  device).returncode == 0
    async with web_wing.forwarder(device) as port, \
            streaming(port, "www.gov.uk", web_wing) as (reader, _):
        revoke(web_wing.estate.estate, device, "tablet lost", None)
        revoked = time.time()
        cut = await cut_at(reader, 10)
        assert cut < revoked + BOUND_S, f"the open tunnel lasted {cut - revoked:.2f}s"
        assert (await browse(port, "www.gov.uk", web_wing.ca)).status == 502
