"""The web proxy's TLS front: where tablets' forwarders connect (DESIGN §8).

Squid cannot peek into a CONNECT that arrives inside TLS (ssl_bump applies to CONNECT on an
`http_port`), so this thin asyncio listener terminates the tablet's TLS instead: it requires a
client certificate from the wing CA, not on the wing's CRL (re-read when the file changes), takes
the tablet id from its common name, and hands Squid's loopback port exactly one request — a
CONNECT, with `X-Cellbridge-Tablet` set to that id (any such header the client sent is dropped).
Nothing the client sends goes to Squid before Squid has answered that CONNECT, and after a
refusal the connection is closed: a second request cannot ride on a connection whose header the
front wrote. The front asks the same decision first, so a refusal reaches the tablet as a 403
with its reason (`X-Cellbridge-Refused`) for the shell's blocked screen; Squid, its helper and
the SNI check still decide everything that passes (a denial there fails the tunnel: Squid answers
a denied CONNECT on an ssl-bump port with 200 and then its own error inside TLS, which the
tablet's browser cannot trust).

It also knows every open tunnel (tablet, host, certificate serial), so it can cut them:
`recheck()` re-reads the CRL if it changed, asks the decision again for each tunnel and closes
those no longer allowed or whose certificate is now revoked; it runs every `recheck_s` and at
once when the gateway hears of a change (a revoked or expired grant).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from common.tunnel import serve_once, splice
from gateway.squid_conf import TABLET_HEADER
from gateway.web_log import LogEntry
from wire.webaccess import WebDecision

log = logging.getLogger(__name__)

MAX_HEAD = 8192
HEAD_TIMEOUT_S = 10.0
SQUID_TIMEOUT_S = 30.0
REFUSED_HEADER = "X-Cellbridge-Refused"
"""On a refused CONNECT, why (the decision's reason): what the tablet's blocked screen says."""


@dataclass(eq=False)
class Tunnel:
    device: str
    host: str
    writers: tuple[asyncio.StreamWriter, asyncio.StreamWriter]
    serial: int | None = None
    opened: float = field(default_factory=time.monotonic)

    def cut(self) -> None:
        for writer in self.writers:
            transport = writer.transport
            if not transport.is_closing():
                transport.abort()


class TlsFront:
    def __init__(self, cert: Path, key: Path, ca: Path, crl: Path | None,
                 squid_port: Callable[[], int], decide: Callable[[str, str], WebDecision],
                 refused: Callable[[LogEntry], None], clock: Callable[[], int]) -> None:
        self._cert, self._key, self._ca, self._crl = cert, key, ca, crl
        self._squid_port = squid_port
        self._decide = decide
        self._refused = refused
        self._clock = clock
        self._context: ssl.SSLContext | None = None
        self._crl_stamp: tuple[int, int] | None = None
        self._revoked: frozenset[int] | None = frozenset()
        """The CRL's serials; None: the CRL could not be read (every open tunnel is cut)."""
        self.tunnels: set[Tunnel] = set()
        self._server: asyncio.AbstractServer | None = None

    # -- TLS ------------------------------------------------------------------------------

    def context(self) -> ssl.SSLContext:
        """The server context, rebuilt when the CRL file changed (a tablet was revoked)."""
        stamp = None
        if self._crl is not None:
            info = self._crl.stat()
            stamp = (info.st_mtime_ns, info.st_size)
        if self._context is None or stamp != self._crl_stamp:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.minimum_version = ssl.TLSVersion.TLSv1_2
            context.load_cert_chain(str(self._cert), str(self._key))
            context.verify_mode = ssl.CERT_REQUIRED
            # No session resumption: every connection presents and verifies its certificate
            # against the current CRL (a resumed session would skip both).
            context.options |= ssl.OP_NO_TICKET
            context.num_tickets = 0
            context.load_verify_locations(str(self._ca))
            if self._crl is not None:
                context.load_verify_locations(str(self._crl))
                context.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
            self._context, self._crl_stamp = context, stamp
            self._revoked = _revoked_serials(self._crl)
        return self._context

    # -- serving --------------------------------------------------------------------------

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _Accepted(self._accept), host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def _accept(self, raw: asyncio.Transport) -> None:
        """TLS on a connection whose reading is paused until the TLS layer takes it over (so no
        byte of the ClientHello is read as plain text), with the context of the current CRL."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_HEAD)
        protocol = asyncio.StreamReaderProtocol(reader)
        try:
            transport = await loop.start_tls(raw, protocol, self.context(), server_side=True,
                                             ssl_handshake_timeout=HEAD_TIMEOUT_S)
        except (ssl.SSLError, ConnectionError, TimeoutError, OSError) as exc:
            raw.abort()
            self._refuse("-", "-", _tls_reason(exc), "TLS/refused")
            return
        if transport is None:
            raw.abort()
            return
        protocol.connection_made(transport)
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        await self._serve(reader, writer)

    async def close(self) -> None:
        for tunnel in list(self.tunnels):
            tunnel.cut()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def _refuse(self, device: str, host: str, reason: str, status: str) -> None:
        self._refused(LogEntry(device, self._clock(), host, "-", False, reason, status, 0, 0, 0))

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_once(self._handle, reader, writer)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        device = _common_name(writer.get_extra_info("peercert"))
        if device is None:
            self._refuse("-", "-", "no_client_certificate", "TLS/refused")
            return
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
        request_line, *headers = head.decode("latin-1").split("\r\n")
        parts = request_line.split(" ")
        if len(parts) != 3 or parts[0] != "CONNECT":
            self._refuse(device, parts[1] if len(parts) > 1 else "-", "not_connect",
                         "FRONT/405")
            writer.write(_response(405, "Method Not Allowed", "not_connect"))
            await writer.drain()
            return
        host, _, port = parts[1].rpartition(":")
        if port != "443" or not host:
            await self._deny(writer, device, host or parts[1], "port_not_allowed")
            return
        decision = self._decide(device, host)
        if not decision.allowed:  # said here with its reason; Squid's helper would refuse too
            await self._deny(writer, device, decision.host or host, decision.reason)
            return
        kept = [h for h in headers if h and not h.lower().startswith(TABLET_HEADER.lower() + ":")]
        forwarded = "\r\n".join([request_line, *kept, f"{TABLET_HEADER}: {device}", "", ""])
        squid_reader, squid_writer = await asyncio.open_connection(
            "127.0.0.1", self._squid_port(), limit=MAX_HEAD)
        try:
            squid_writer.write(forwarded.encode("latin-1"))
            await squid_writer.drain()
            answer = await asyncio.wait_for(squid_reader.readuntil(b"\r\n\r\n"),
                                            SQUID_TIMEOUT_S)
            status = answer.split(b" ", 2)[1:2]
            if status != [b"200"]:
                reason = self._decide(device, host).reason
                code = int(status[0]) if status and status[0].isdigit() else 502
                writer.write(_response(code, "Refused", reason))
                await writer.drain()
                return
            writer.write(answer)
            await writer.drain()
            tunnel = Tunnel(device, host, (writer, squid_writer),
                            _serial(writer.get_extra_info("peercert")))
            self.tunnels.add(tunnel)
            try:
                await splice((reader, writer), (squid_reader, squid_writer))
            finally:
                self.tunnels.discard(tunnel)
        finally:
            squid_writer.transport.abort()

    async def _deny(self, writer: asyncio.StreamWriter, device: str, host: str, reason: str
                    ) -> None:
        self._refuse(device, host, reason, "FRONT/403")
        writer.write(_response(403, "Forbidden", reason))
        await writer.drain()

    # -- cutting --------------------------------------------------------------------------

    def recheck(self) -> int:
        """Cut every open tunnel whose (tablet, host) is no longer allowed, or whose certificate
        the CRL now revokes; how many."""
        try:
            self.context()  # re-reads the CRL when the file changed
        except (OSError, ssl.SSLError) as exc:
            log.warning("web front: cannot read the CRL (%s): cutting every open tunnel", exc)
            self._revoked = None
        cut = 0
        for tunnel in list(self.tunnels):
            revoked = self._revoked is None or tunnel.serial is None \
                or tunnel.serial in self._revoked
            if revoked or not self._decide(tunnel.device, tunnel.host).allowed:
                tunnel.cut()
                self.tunnels.discard(tunnel)
                cut += 1
        return cut

    async def run_rechecks(self, every_s: float, poke: asyncio.Event) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(poke.wait(), every_s)
            poke.clear()
            self.recheck()


class _Accepted(asyncio.Protocol):
    """A new connection: reading paused at once, handed to the front to start TLS."""

    def __init__(self, accept: Callable[[asyncio.Transport], Coroutine[Any, Any, None]]
                 ) -> None:
        self._accept = accept
        self._task: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.pause_reading()
        self._task = asyncio.get_running_loop().create_task(self._accept(transport))


def _response(code: int, phrase: str, reason: str) -> bytes:
    return (f"HTTP/1.1 {code} {phrase}\r\n{REFUSED_HEADER}: {reason}\r\n"
            "Content-Length: 0\r\nConnection: close\r\n\r\n").encode("latin-1")


def _common_name(cert: object) -> str | None:
    if not isinstance(cert, dict):
        return None
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName" and isinstance(value, str) and value.isprintable():
                return value
    return None


def _serial(cert: object) -> int | None:
    if not isinstance(cert, dict):
        return None
    try:
        return int(str(cert.get("serialNumber")), 16)
    except ValueError:
        return None


def _revoked_serials(crl: Path | None) -> frozenset[int] | None:
    """The serial numbers `crl` revokes (no CRL configured: none); None when it cannot be read."""
    if crl is None:
        return frozenset()
    try:
        return frozenset(entry.serial_number
                         for entry in x509.load_pem_x509_crl(crl.read_bytes()))
    except (OSError, ValueError) as exc:
        log.warning("web front: cannot read the CRL %s: %s", crl, exc)
        return None


def _tls_reason(exc: BaseException) -> str:
    text = str(exc).lower()
    if "revoked" in text:
        return "certificate_revoked"
    if "peer did not return a certificate" in text or "certificate required" in text:
        return "no_client_certificate"
    if "certificate" in text:
        return "certificate_refused"
    return "tls_failed"
