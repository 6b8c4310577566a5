"""Prisoners' requests at the gateway (issue 6): the durable record, staff's replies, and their
delivery back to the tablet (`wire.requests`).

A request id is kept once: a copy (the tablet sends again when it did not see the PUBACK) is
ignored, and audited once. A reply is signed when it is published (so a tablet offline for a long
time still gets one in date) and sent again at every birth of the tablet until it acknowledges it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wire import topics
from wire.documents import Ack, device_audience
from wire.envelope import seal
from wire.requests import MAX_OPEN, MAX_TEXT, Request, RequestReply
from wire.topics import TabletChannel

if TYPE_CHECKING:
    from gateway.service import GatewayService


class UnknownRequest(Exception):
    """No request with this id reached the wing."""


class ReplyError(Exception):
    """The reply cannot be sent as asked (empty, too long, already answered)."""


@dataclass(frozen=True, slots=True)
class _Reply:
    device: str
    request: str
    text: str
    by: str


class RequestDesk:
    """Hangs off `GatewayService.requests`; uses its store, clock, key and MQTT client."""

    def __init__(self, service: GatewayService) -> None:
        self.service = service
        self._db = service.store.db
        with self._db.conn:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS requests ("
                " id TEXT PRIMARY KEY, device TEXT NOT NULL, type TEXT NOT NULL,"
                " text TEXT NOT NULL, created INTEGER NOT NULL, received INTEGER NOT NULL,"
                " copies INTEGER NOT NULL DEFAULT 0, reply TEXT, reply_by TEXT,"
                " replied_at INTEGER, reply_delivered INTEGER NOT NULL DEFAULT 0)"
            )
            self._db.execute(
                "CREATE INDEX IF NOT EXISTS requests_undelivered ON requests (device)"
                " WHERE reply IS NOT NULL AND reply_delivered = 0"
            )
        self._version = 0

    # -- from tablets ----------------------------------------------------------------------

    def on_request(self, device: str, payload: bytes, now: int) -> None:
        service = self.service
        request = service._parse(device, TabletChannel.REQUEST, payload, Request, now)
        if request is None:
            return  # audited as invalid_message
        service._touch(device, now)
        row = self._db.execute(
            "SELECT device, copies FROM requests WHERE id = ?", [request.id]
        ).fetchone()
        if row is None:
            waiting = self._db.execute(
                "SELECT COUNT(*) FROM requests WHERE device = ? AND reply IS NULL", [device]
            ).fetchone()[0]
            if waiting >= MAX_OPEN:
                service._invalid(device, TabletChannel.REQUEST, f"too_many_open: {waiting} "
                                 f"requests already wait for an answer (at most {MAX_OPEN})", now)
                return
            with self._db.conn:
                self._db.execute(
                    "INSERT INTO requests (id, device, type, text, created, received)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    [request.id, device, request.type, request.text, request.created, now],
                )
            service.store.audit(now, f"tablet:{device}", "request", f"device:{device}",
                                {"id": request.id, "type": request.type})
            return
        if row[0] != device:
            service._invalid(device, TabletChannel.REQUEST,
                             f"id_conflict: request {request.id} belongs to another tablet", now)
            return
        with self._db.conn:
            self._db.execute("UPDATE requests SET copies = copies + 1 WHERE id = ?", [request.id])
        if row[1] == 0:
            service.store.audit(now, f"tablet:{device}", "request_duplicate", f"device:{device}",
                                {"id": request.id})

    def on_ack(self, device: str, ack: Ack) -> None:
        """The tablet stored a reply: stop sending it."""
        if ack.state == "succeeded" and ack.ref.startswith("reply/"):
            with self._db.conn:
                self._db.execute(
                    "UPDATE requests SET reply_delivered = 1 WHERE id = ? AND device = ?",
                    [ack.ref.removeprefix("reply/"), device],
                )

    def on_birth(self, device: str) -> None:
        replies = self._undelivered("WHERE device = ?", [device])
        if replies:
            self.service._spawn(self._publish_all(replies))

    async def republish(self) -> None:
        """On (re)connecting to the broker: every reply not yet acknowledged."""
        await self._publish_all(self._undelivered("", []))

    # -- from staff ------------------------------------------------------------------------

    def listing(self, device: str | None = None) -> list[dict[str, Any]]:
        sql = ("SELECT id, device, type, text, created, received, copies, reply, reply_by,"
               " replied_at, reply_delivered FROM requests")
        params: list[Any] = []
        if device is not None:
            sql += " WHERE device = ?"
            params.append(device)
        rows = self._db.execute(sql + " ORDER BY received, id", params).fetchall()
        return [
            {"id": r[0], "device": r[1], "type": r[2], "text": r[3], "created": r[4],
             "received": r[5], "copies": r[6],
             "status": "answered" if r[7] is not None else "open",
             "reply": r[7], "reply_by": r[8], "replied_at": r[9],
             "reply_delivered": bool(r[10])}
            for r in rows
        ]

    async def reply(self, request_id: str, text: str, by: str) -> dict[str, Any]:
        """Record staff's answer, audited, and send it; raises UnknownRequest or ReplyError."""
        text = text.strip()
        if not text:
            raise ReplyError("the reply must not be empty")
        if len(text) > MAX_TEXT:
            raise ReplyError(f"the reply is over {MAX_TEXT} characters")
        row = self._db.execute(
            "SELECT device, reply FROM requests WHERE id = ?", [request_id]
        ).fetchone()
        if row is None:
            raise UnknownRequest(f"no request {request_id!r}")
        if row[1] is not None:
            raise ReplyError(f"request {request_id} is already answered")
        now = self.service.clock()
        with self._db.conn:
            self._db.execute(
                "UPDATE requests SET reply = ?, reply_by = ?, replied_at = ? WHERE id = ?",
                [text, by, now, request_id],
            )
        self.service.store.audit(now, f"staff:{by}", "request_reply", f"device:{row[0]}",
                                 {"id": request_id})
        await self._publish_all([_Reply(row[0], request_id, text, by)])
        return {"id": request_id, "device": row[0], "replied_at": now}

    # -- sending ---------------------------------------------------------------------------

    def _undelivered(self, where: str, params: list[Any]) -> list[_Reply]:
        clause = where + (" AND" if where else "WHERE")
        rows = self._db.execute(
            f"SELECT device, id, reply, reply_by FROM requests {clause}"
            " reply IS NOT NULL AND reply_delivered = 0",
            params,
        ).fetchall()
        return [_Reply(*r) for r in rows if r[0] in self.service.tablets]

    async def _publish_all(self, replies: list[_Reply]) -> None:
        await asyncio.gather(*(self._publish(r) for r in replies))

    async def _publish(self, reply: _Reply) -> None:
        now = self.service.clock()
        self._version = max(now, self._version + 1)
        document = RequestReply(
            audience=device_audience(reply.device), version=self._version, issued=now,
            expires=now + self.service.ttl_ms, request=reply.request, text=reply.text,
            by=reply.by,
        )
        await self.service._publish(
            topics.tablet(reply.device, TabletChannel.REPLY), seal(document, self.service._key),
            retain=False,
        )
