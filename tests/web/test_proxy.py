"""The wing's web path end to end, on real parts: a tablet's forwarder, the gateway's TLS front
(client certificate), real Squid (peek then splice, the gateway's helper), HTTPS origins on
loopback. Each refusal is checked for its reason and for its line in the browsing record."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import signal
import ssl
import time

import idna
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from agent.webproxy import WebConfig, forwarder_for
from common.mqtt import BrokerConfig, tls_context
from provisioning.estate import revoke
from tests.web.support import browse
from tests.web.wing import RECHECK_S, WebWing

pytestmark = pytest.mark.timeout(180)


async def log_of(wing: WebWing, device: str, host: str, timeout: float = 10.0) -> list[dict]:
    """The browsing record's entries for `device` and `host` (waits for the access log)."""
    deadline = time.monotonic() + timeout
    while True:
        result = await wing.gateway.acli("web", "log", "--device", device, "--json")
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


async def reasons(wing: WebWing, device: str, timeout: float = 10.0) -> list[str]:
    """Every reason in `device`'s browsing record, once Squid's log has been read."""
    import json
    await asyncio.sleep(1.2)  # the access log is followed every half second
    result = await wing.gateway.acli("web", "log", "--device", device, "--json")
    assert result.returncode == 0, result.stderr
    return [r["reason"] for r in json.loads(result.stdout)]


async def raw_front(wing: WebWing, request: bytes, context: ssl.SSLContext) -> bytes:
    """Send `request` straight to the gateway's TLS front; what comes back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", wing.front_port, ssl=context)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(4096), 10)
    finally:
        writer.transport.abort()


async def test_bypass_attempts_are_refused_and_logged_with_their_reason(web_wing: WebWing):
    look_alike = idna.encode("www.gоv.uk").decode()  # Cyrillic о
    async with web_wing.forwarder("T1") as port:
        # Domain fronting: a tunnel opened for an allowed name carrying a handshake for another.
        fronted = await browse(port, "www.gov.uk", web_wing.ca, sni="www.moneyhelper.org.uk")
        assert fronted.status == 0
        no_sni = await browse(port, "www.gov.uk", web_wing.ca, sni="")
        assert no_sni.status == 0
        for host, port_number, reason in [
            (web_wing.origins.address, 443, "ip_literal"),
            ("[::1]", 443, "ip_literal"),
            ("www.gov.uk", 8443, "port_not_allowed"),
            ("www.gov.uk", 22, "port_not_allowed"),
            ("gov.uk.evil.example", 443, "not_listed"),
            ("evilgov.uk", 443, "not_listed"),
            ("WWW.MONEYHELPER.ORG.UK.", 443, "not_listed"),
            (look_alike, 443, "not_listed"),
        ]:
            refused = await browse(port, host, web_wing.ca, port=port_number)
            assert refused.status == 403, host
            assert web_wing.refusal_of(host) in (reason, None)
        # A second CONNECT pipelined inside an allowed tunnel is tunnel bytes, never a request.
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"CONNECT www.gov.uk:443 HTTP/1.1\r\n\r\n"
                     b"CONNECT www.moneyhelper.org.uk:443 HTTP/1.1\r\n\r\n")
        await writer.drain()
        first = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        assert first.startswith(b"HTTP/1.1 200")
        rest = await asyncio.wait_for(reader.read(65536), 10)
        assert b"hello from" not in rest and b" 200 " not in rest
        writer.transport.abort()
        # Plain HTTP never leaves the tablet.
        plain = await browse_plain(port)
        assert plain.startswith(b"HTTP/1.1 405")
    record = await reasons(web_wing, "T1")
    for reason in ("sni_mismatch", "no_sni", "ip_literal", "port_not_allowed", "not_listed",
                   "not_tls"):
        assert any(reason in r for r in record), (reason, record)
    assert not any(r.startswith("profile:") and "moneyhelper" in r for r in record)

    # Straight at the front: plain HTTP with a tablet's certificate; no certificate; a forged one.
    tls = web_wing.broker.tablet_tls("T1")
    assert tls is not None
    plain_http = await raw_front(web_wing, b"GET http://www.gov.uk/ HTTP/1.1\r\n\r\n",
                                 tls_context(tls))
    assert plain_http.startswith(b"HTTP/1.1 405")
    anonymous = ssl.create_default_context(cafile=str(tls.ca))
    with pytest.raises((ssl.SSLError, ConnectionError, OSError, asyncio.IncompleteReadError)):
        answer = await raw_front(web_wing, b"CONNECT www.gov.uk:443 HTTP/1.1\r\n\r\n", anonymous)
        if not answer:
            raise ConnectionError("closed")
    forged = forged_context(web_wing, "T1")
    with pytest.raises((ssl.SSLError, ConnectionError, OSError, asyncio.IncompleteReadError)):
        answer = await raw_front(web_wing, b"CONNECT www.gov.uk:443 HTTP/1.1\r\n\r\n", forged)
        if not answer:
            raise ConnectionError("closed")
    assert "not_connect" in await reasons(web_wing, "T1")
    unknown = await reasons(web_wing, "-")
    assert "no_client_certificate" in unknown and "certificate_refused" in unknown


async def browse_plain(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(b"GET http://www.gov.uk/ HTTP/1.1\r\nHost: www.gov.uk\r\n\r\n")
        await writer.drain()
        return await asyncio.wait_for(reader.read(4096), 10)
    finally:
        writer.transport.abort()


def forged_context(wing: WebWing, device: str) -> ssl.SSLContext:
    """A client certificate that says `device` but was not issued by the wing CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, device)])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256()))
    directory = wing.squid_dir.parent / f"forged-{os.getpid()}-{device}"
    directory.mkdir(exist_ok=True)
    (directory / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "k.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    tls = wing.broker.tablet_tls(device)
    assert tls is not None
    context = ssl.create_default_context(cafile=str(tls.ca))
    context.load_cert_chain(str(directory / "c.pem"), str(directory / "k.pem"))
    return context


async def test_a_lock_refuses_the_next_connection_and_cuts_an_open_tunnel_in_bounded_time(
        web_wing: WebWing):
    async with web_wing.forwarder("T1") as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"CONNECT www.gov.uk:443 HTTP/1.1\r\n\r\n")
        await writer.drain()
        assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200")
        await writer.start_tls(web_wing.ca.client_context(), server_hostname="www.gov.uk")
        writer.write(b"GET /stream HTTP/1.1\r\nHost: www.gov.uk\r\n\r\n")
        await writer.drain()
        assert b"tick" in await asyncio.wait_for(reader.readuntil(b"tick\n"), 10)

        locked = await web_wing.gateway.acli("lock", "--device", "T1", "--reason", "search")
        assert locked.returncode == 0, locked.stderr
        started = time.monotonic()
        with contextlib.suppress(ConnectionError, OSError, ssl.SSLError,
                                 asyncio.IncompleteReadError):
            while await asyncio.wait_for(reader.read(4096), 10):
                pass
        cut_after = time.monotonic() - started
        writer.transport.abort()
        assert cut_after < RECHECK_S + 1.5, f"the open tunnel lasted {cut_after:.2f}s after the lock"
        refused = await browse(port, "www.gov.uk", web_wing.ca)
        assert refused.status == 403
    assert "locked" in await reasons(web_wing, "T1")


async def test_a_revoked_certificate_is_refused_at_the_next_connection(web_wing: WebWing):
    device = f"WR{os.getpid() % 10000}"
    web_wing.gateway.register(device, "C9", "L9")
    assert web_wing.gateway.cli("policy", "profile", "resettlement", "--device",
                                  device).returncode == 0
    async with web_wing.forwarder(device) as port:
        assert (await browse(port, "www.gov.uk", web_wing.ca)).status == 200
        revoke(web_wing.estate.estate, device, "tablet lost", None)
        refused = await browse(port, "www.gov.uk", web_wing.ca)
        assert refused.status != 200
    assert "certificate_revoked" in await reasons(web_wing, "-")


async def test_squid_killed_denies_then_recovers(web_wing: WebWing):
    async with web_wing.forwarder("T1") as port:
        assert (await browse(port, "www.gov.uk", web_wing.ca)).status == 200
        pid = web_wing.squid_pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        broken = await browse(port, "www.gov.uk", web_wing.ca)
        assert broken.status != 200
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            if (await browse(port, "www.gov.uk", web_wing.ca)).status == 200:
                break
        else:
            raise AssertionError("Squid did not come back within 30 s")


async def test_the_agent_runs_the_forwarder_with_the_tablets_own_certificate(web_wing: WebWing):
    tls = web_wing.broker.tablet_tls("T1")
    assert tls is not None
    web = WebConfig(gateway_host="127.0.0.1", gateway_port=web_wing.front_port, listen_port=0)
    forwarder = forwarder_for(web, BrokerConfig(host="127.0.0.1", port=1, tls=tls))
    port = await forwarder.start()
    try:
        assert (await browse(port, "www.gov.uk", web_wing.ca)).status == 200
        assert (await browse(port, "evilgov.uk", web_wing.ca)).status == 403
        assert forwarder.refusals["evilgov.uk"].reason == "not_listed"
    finally:
        await forwarder.close()
    with pytest.raises(ValueError, match="certificate"):
        forwarder_for(web, BrokerConfig())


async def test_gateway_stopped_denies_then_recovers_when_it_is_back(web_wing: WebWing):
    async with web_wing.forwarder("T1") as port:
        assert (await browse(port, "www.gov.uk", web_wing.ca)).status == 200
        await asyncio.to_thread(web_wing.gateway.stop)
        stopped = await browse(port, "www.gov.uk", web_wing.ca)
        assert stopped.status == 502
        assert web_wing.refusal_of("www.gov.uk") == "proxy_unreachable"
        await asyncio.to_thread(web_wing.gateway.start)
        await asyncio.to_thread(web_wing.wait_squid)
        assert (await browse(port, "www.gov.uk", web_wing.ca)).status == 200


def helper_pids(wing: WebWing) -> list[int]:
    """The decision helpers Squid runs for this test's gateway (found by their script's path)."""
    script = str(wing.squid_dir / "cellbridge_web_helper.py").encode()
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if script in open(f"/proc/{entry}/cmdline", "rb").read():  # noqa: SIM115
                    pids.append(int(entry))
    return pids


async def test_helpers_killed_mid_run_squid_recovers_them(web_wing: WebWing):
    async with web_wing.forwarder("T1") as port:
        assert (await browse(port, "www.gov.uk", web_wing.ca)).status == 200
        squid = web_wing.squid_pid()
        killed = helper_pids(web_wing)
        assert killed, "no helper running"
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if (await browse(port, "www.gov.uk", web_wing.ca)).status == 200:
                break
            await asyncio.sleep(0.5)
        else:
            raise AssertionError("no allowed page within 30 s of killing the helpers")
        assert (await browse(port, "evilgov.uk", web_wing.ca)).status == 403
        assert web_wing.squid_pid() == squid
        assert not set(killed) & set(helper_pids(web_wing))
