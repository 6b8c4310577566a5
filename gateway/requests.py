"""Prisoners' requests at the gateway (issue 6): the durable record, staff's replies, and their
delivery back to the tablet (`wire.requests`).

A request id is kept once: a copy (the tablet sends again when it did not see the PUBACK) is
ignored, and audited once. A reply is signed when it is published (so a tablet offline for a long
time still gets one in date) and sent again at every birth of the tablet until it acknowledges it.

A request a signed-in person wrote follows them (docs/prisoners.md, "What follows the person"):
each tablet of the cell they live in now is sent a copy of each of their newest requests it does
not hold, with staff's answer once given (`sync`: after the request arrives, after a reply, after
`Prisoners` re-issued tablets whose occupants changed, at every birth); a tablet of a cell they
left is sent nothing more of theirs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from gateway.inbound import Refused, parse
from gateway.parts import Parts
from gateway.request_book import Copy, Reply, RequestBook, RequestConflict
from wire import topics
from wire.documents import Ack
from wire.requests import MAX_OPEN, MAX_TEXT, Asked, Request
from wire.topics import TabletChannel

log = logging.getLogger(__name__)

FOLLOWING = 20
"""A person's newest requests that follow them to a new cell (the shell lists fewer; the
gateway keeps them all, and staff see them all)."""


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
        self.occupants: Callable[[str], set[str]] = lambda _cell: set()
        """Who lives in a cell now (set by `gateway.prisoners.Prisoners`)."""
        self.cell_of: Callable[[str], str | None] = lambda _number: None
        """The cell a person lives in now, None if none (set by `Prisoners`)."""

    # -- from tablets ----------------------------------------------------------------------

    async def on_request(self, device: str, payload: bytes, _retained: bool, now: int) -> None:
        """The `request` channel's handler (`gateway.inbound`)."""
        request = parse(Request, payload)
        self._fleet.touch(device, now)
        person = request.person
        holds = person is not None and person in self.occupants(self._fleet.tablets[device].cell)
        try:
            await self._io(self._book.receive, device, request, now, MAX_OPEN, holds)
        except RequestConflict as exc:
            raise Refused(exc.reason) from exc
        if person is not None:  # the other tablets of the writer's cell (now) get it too
            self._publisher.spawn(self.sync(self._tablets_of(person)))

    async def on_ack(self, device: str, ack: Ack) -> None:
        """The tablet stored a reply (or a copy of a person's request): stop sending it."""
        if ack.state != "succeeded" or device not in self._fleet.tablets:
            return
        kind, _, request = ack.ref.partition("/")
        if kind == "job":  # a wipe erased the tablet's requests: its people's come back
            if await self._io(self._book.wiped, device, request):
                self._publisher.spawn(self.sync([device]))
            return
        if kind not in ("reply", "request"):
            return
        if kind == "reply":
            await self._io(self._book.delivered, device, request)
        people = self.occupants(self._fleet.tablets[device].cell)
        await self._io(self._book.held, device, request, kind == "reply", people)

    def on_birth(self, device: str) -> None:
        self._publisher.spawn(self._resend(device))

    async def _resend(self, device: str | None) -> None:
        replies = await self._io(self._book.undelivered, device)
        await self._publish_all([r for r in replies if r.device in self._fleet.tablets])
        await self.sync(None if device is None else [device])

    def _tablets_of(self, person: str) -> list[str]:
        cell = self.cell_of(person)
        return sorted(d for d, t in self._fleet.tablets.items() if cell is not None
                      and t.cell == cell)

    async def sync(self, devices: Iterable[str] | None = None) -> None:
        """Send each tablet (None: all) the copies of its cell's occupants' requests it lacks;
        what it held of people who left its cell is forgotten here (its agent drops them when
        its new occupants arrive)."""
        tablets = self._fleet.tablets
        chosen = sorted(tablets) if devices is None else [d for d in devices if d in tablets]
        cells = {d: self.occupants(tablets[d].cell) for d in chosen}
        if not cells:
            return
        copies = await self._io(self._book.owed, cells, FOLLOWING)
        await asyncio.gather(*(self._send_copy(c) for c in copies))

    async def _send_copy(self, copy: Copy) -> None:
        """A copy of the request with its answer; only the answer to a tablet that holds the
        request (its writer's: an agent from before copies takes that too)."""
        try:
            asked = None if copy.held else Asked.model_validate({
                "person": copy.person, "type": copy.type, "text": copy.text,
                "created": copy.created})
            envelope = self._issuer.reply(copy.device, copy.request, copy.reply, copy.by,
                                          self._clock(), asked)
        except ValueError as exc:  # a record the wire cannot carry: never sent, the rest are
            log.error("request %s cannot be sent to %s: %s", copy.request, copy.device, exc)
            return
        await self._publisher.publish(topics.tablet(copy.device, TabletChannel.REPLY), envelope,
                                      retain=False)

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
        if reply.person is None:
            await self._publish_all([reply])
            to = [reply.device]
        else:  # to the tablets of the cell the writer lives in now
            to = self._tablets_of(reply.person)
            await self.sync(to)
        return {"id": request_id, "device": reply.device, "replied_at": now, "sent_to": to}

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
