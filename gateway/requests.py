"""Prisoners' requests at the gateway (issue 6): the durable record, staff's replies, and their
delivery back to the tablet (`wire.requests`).

A request id is kept once: a copy (the tablet sends again when it did not see the PUBACK) is
ignored, and audited once. A reply is signed when it is published (so a tablet offline for a long
time still gets one in date) and sent again at every birth of the tablet until it acknowledges it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from gateway.inbound import Refused, parse
from gateway.parts import Parts
from gateway.request_book import Reply, RequestBook, RequestConflict
from wire import topics
from wire.documents import Ack
from wire.requests import MAX_OPEN, MAX_TEXT, Request
from wire.topics import TabletChannel


class UnknownRequest(Exception):
    """No request with this id reached the wing."""


class ReplyError(Exception):
    """The reply cannot be sent as asked (empty, too long, already answered)."""


class RequestDesk:
    def __init__(self, parts: Parts) -> None:
        self._fleet = parts.fleet
        self._issuer = parts.issuer
        self._publisher = parts.publisher
        self._io = parts.io
        self._clock = parts.clock
        self._book = RequestBook(parts.store)

    # -- from tablets ----------------------------------------------------------------------

    async def on_request(self, device: str, payload: bytes, _retained: bool, now: int) -> None:
        """The `request` channel's handler (`gateway.inbound`)."""
        request = parse(Request, payload)
        self._fleet.touch(device, now)
        try:
            await self._io(self._book.receive, device, request, now, MAX_OPEN)
        except RequestConflict as exc:
            raise Refused(exc.reason) from exc

    async def on_ack(self, device: str, ack: Ack) -> None:
        """The tablet stored a reply: stop sending it."""
        if ack.state == "succeeded" and ack.ref.startswith("reply/"):
            await self._io(self._book.delivered, device, ack.ref.removeprefix("reply/"))

    def on_birth(self, device: str) -> None:
        self._publisher.spawn(self._resend(device))

    async def _resend(self, device: str | None) -> None:
        replies = await self._io(self._book.undelivered, device)
        await self._publish_all([r for r in replies if r.device in self._fleet.tablets])

    async def republish(self) -> None:
        """On (re)connecting to the broker: every reply not yet acknowledged."""
        await self._resend(None)

    # -- from staff ------------------------------------------------------------------------

    async def listing(self, device: str | None = None, person: str | None = None
                      ) -> list[dict[str, Any]]:
        return await self._io(self._book.listing, device, person)

    async def reply(self, request_id: str, text: str, by: str) -> dict[str, Any]:
        """Record staff's answer, audited, and send it; raises UnknownRequest or ReplyError."""
        text = text.strip()
        if not text:
            raise ReplyError("the reply must not be empty")
        if len(text) > MAX_TEXT:
            raise ReplyError(f"the reply is over {MAX_TEXT} characters")
        now = self._clock()
        try:
            reply = await self._io(self._book.reply, request_id, text, by, now)
        except RequestConflict as exc:
            raise ReplyError(exc.reason) from exc
        if reply is None:
            raise UnknownRequest(f"no request {request_id!r}")
        await self._publish_all([reply])
        return {"id": request_id, "device": reply.device, "replied_at": now}

    async def assign(self, request_id: str, to: str | None, by: str) -> dict[str, Any]:
        """Give the request to a staff account (None: unassign), audited; raises
        UnknownRequest. Who may be given one is the caller's to check."""
        now = self._clock()
        device = await self._io(self._book.assign, request_id, to, by, now)
        if device is None:
            raise UnknownRequest(f"no request {request_id!r}")
        return {"id": request_id, "device": device, "assigned_to": to, "assigned_at": now}

    # -- sending ---------------------------------------------------------------------------

    async def _publish_all(self, replies: list[Reply]) -> None:
        await asyncio.gather(*(
            self._publisher.publish(
                topics.tablet(r.device, TabletChannel.REPLY),
                self._issuer.reply(r.device, r.request, r.text, r.by, self._clock()),
                retain=False,
            )
            for r in replies
        ))
