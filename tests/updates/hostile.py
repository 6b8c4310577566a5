"""A hostile gateway for the attack tests: ASGI middleware in front of the real repository
server that, for chosen paths, sends data without end or trickles it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import MutableMapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

ENDLESS_LIMIT = 64 * 1024 * 1024
TRICKLE_LIMIT_S = 8.0


class Hostile:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.rules: dict[str, str] = {}
        """URL path -> "endless" | "trickle" | "cut:N" (the connection drops after N bytes)."""
        self.requests: list[tuple[str, str]] = []
        """(path, Range header) of every request."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers", []))
            self.requests.append((scope["path"], headers.get(b"range", b"").decode()))
        rule = self.rules.get(scope.get("path", "")) if scope["type"] == "http" else None
        if rule is None:
            await self.app(scope, receive, send)
            return
        if rule.startswith("cut:"):
            await self.app(scope, receive, _Cut(send, int(rule[4:])))
            return
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"application/octet-stream")]})
        started = time.monotonic()
        sent = 0
        try:
            while sent < ENDLESS_LIMIT and time.monotonic() - started < TRICKLE_LIMIT_S:
                if rule == "endless":
                    chunk = b"\0" * 65536
                else:
                    await asyncio.sleep(0.2)
                    chunk = b"{"
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                sent += len(chunk)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except asyncio.CancelledError:
            return  # the server is shutting down with the client gone


class ConnectionCut(Exception):
    """Raised inside the server to drop the connection mid-body."""


class _Cut:
    def __init__(self, send: Send, limit: int) -> None:
        self.send = send
        self.left = limit

    async def __call__(self, message: MutableMapping[str, Any]) -> None:
        if message["type"] == "http.response.body":
            body = message.get("body", b"")
            if len(body) >= self.left:
                await self.send({**message, "body": body[: self.left], "more_body": True})
                raise ConnectionCut("cut")
            self.left -= len(body)
        await self.send(message)
