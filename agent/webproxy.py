"""The tablet's local forward proxy for the browser (DESIGN §8): listens on 127.0.0.1 only, takes
the browser's CONNECT, and carries it to the wing gateway's web proxy over TLS with the tablet's
own certificate (the key stays with the agent; the browser never sees it). The image's nftables
rules let only the browser's user reach this port, and let the tablet reach nothing but the
gateway.

CONNECT only: anything else is answered 405 here. When the gateway refuses a CONNECT it says why
(`X-Cellbridge-Refused`); the forwarder keeps the latest refusal per host (`refusals`) so the
shell can show its own blocked screen — a browser shows nothing useful for a refused tunnel.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import Field

from common.config import Settings
from common.mqtt import BrokerConfig, TlsConfig
from common.tunnel import serve_once, splice

MAX_HEAD = 8192
HEAD_TIMEOUT_S = 10.0
GATEWAY_TIMEOUT_S = 30.0
MAX_REFUSALS = 64
REFUSED_HEADER = b"x-cellbridge-refused:"


COG: tuple[str, ...] = ("/usr/bin/cog", "--proxy={proxy}", "{url}")
CHROMIUM: tuple[str, ...] = (
    "/usr/bin/chromium", "--kiosk", "--app={url}", "--proxy-server={proxy}",
    "--proxy-bypass-list=<-loopback>", "--no-first-run", "--no-default-browser-check",
    "--disable-extensions", "--disable-sync", "--disable-background-networking",
    "--disable-component-update", "--disable-default-apps", "--disable-translate",
    "--disable-features=Translate,MediaRouter,DownloadBubble", "--incognito",
    "--password-store=basic", "--no-pings",
)
"""Chromium as the kiosk browser (tests here; `device/browser/chromium-policy.json` are its
managed policies: no downloads, no devtools, no file://)."""


class WebConfig(Settings):
    """`[web]` in the agent's configuration: run the browser's forwarder. Absent: no web."""

    gateway_host: str | None = None
    """The gateway's web proxy; default: the broker's host (the same wing gateway)."""
    gateway_port: int = Field(default=3129, ge=1, le=65535)
    listen_port: int = Field(default=3128, ge=0, le=65535)
    """On 127.0.0.1 only; the image's nftables let only the browser's user reach it."""
    browser: list[str] = Field(default_factory=lambda: list(COG), min_length=1)
    """The kiosk browser's command line (the shell starts it, as the browser's user), with
    `{url}`, `{proxy}` (`http://127.0.0.1:PORT`) and `{port}` filled in: `cog` (WPE WebKit) on
    the image; Chromium in app/kiosk mode in tests (docs/content-control.md)."""




def forwarder_for(web: WebConfig, broker: BrokerConfig,
                  on_refusal: Callable[[Refusal], None] | None = None) -> WebForwarder:
    """The forwarder with the tablet's own identity (the broker's mutual-TLS certificate)."""
    if broker.tls is None:
        raise ValueError("the web forwarder needs the tablet's certificate (an enrolment bundle)")
    return WebForwarder(web.gateway_host or broker.host, web.gateway_port, broker.tls,
                        on_refusal)


@dataclass(frozen=True, slots=True)
class Refusal:
    host: str
    reason: str
    at: float


class WebForwarder:
    def __init__(self, gateway_host: str, gateway_port: int, tls: TlsConfig,
                 on_refusal: Callable[[Refusal], None] | None = None) -> None:
        self._host = gateway_host
        self._port = gateway_port
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(tls.ca))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(tls.cert), str(tls.key))
        self._context = context
        self._on_refusal = on_refusal
        self.refusals: OrderedDict[str, Refusal] = OrderedDict()
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self, port: int = 0) -> int:
        """Listen on 127.0.0.1:`port` (0: any); the port."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port,
                                                  limit=MAX_HEAD)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    async def serve_forever(self, port: int = 0) -> None:
        await self.start(port)
        try:
            await asyncio.Event().wait()
        finally:
            await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await serve_once(self._handle, reader, writer)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT_S)
        parts = head.split(b"\r\n", 1)[0].split(b" ")
        if len(parts) != 3 or parts[0] != b"CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n"
                         b"Connection: close\r\n\r\n")
            await writer.drain()
            return
        host = parts[1].decode("latin-1").rsplit(":", 1)[0]
        try:
            up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(
                self._host, self._port, ssl=self._context, limit=MAX_HEAD), GATEWAY_TIMEOUT_S)
        except (ssl.SSLError, OSError, TimeoutError):
            await self._unreachable(writer, host)
            return
        try:
            try:
                # With TLS 1.3 a refused client certificate shows only now, on this first
                # write or read: either way the browser is answered, never just hung up on.
                up_writer.write(head)
                await up_writer.drain()
                answer = await asyncio.wait_for(up_reader.readuntil(b"\r\n\r\n"),
                                                GATEWAY_TIMEOUT_S)
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError,
                    ssl.SSLError, TimeoutError):
                await self._unreachable(writer, host)  # e.g. our certificate was refused
                return
            if answer.split(b" ", 2)[1:2] != [b"200"]:
                self._refused(host, answer)
                writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n"
                             b"Connection: close\r\n\r\n")
                await writer.drain()
                return
            writer.write(answer)
            await writer.drain()
            await splice((reader, writer), (up_reader, up_writer))
        finally:
            up_writer.transport.abort()

    async def _unreachable(self, writer: asyncio.StreamWriter, host: str) -> None:
        self._refused(host, b"")
        writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n"
                     b"Connection: close\r\n\r\n")
        await writer.drain()

    def _refused(self, host: str, answer: bytes) -> None:
        reason = "refused" if answer else "proxy_unreachable"
        for line in answer.split(b"\r\n"):
            if line.lower().startswith(REFUSED_HEADER):
                reason = line[len(REFUSED_HEADER):].strip().decode("ascii", "replace")[:64]
        refusal = Refusal(host, reason, time.time())
        self.refusals[host] = refusal
        self.refusals.move_to_end(host)
        while len(self.refusals) > MAX_REFUSALS:
            self.refusals.popitem(last=False)
        if self._on_refusal is not None:
            self._on_refusal(refusal)


