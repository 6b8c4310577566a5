"""The agent's side of the Requests app: take a request from the shell, keep it, deliver it once
the wing is reachable, and take staff's signed reply (`wire.requests`).

The same outbox carries the person events (`wire.prisoners.PersonEvent`, `add_event`) the same
way. Delivery is at-least-once on the wire (a request is marked delivered only after the broker's
PUBACK, so one sent just before a crash goes again) and exactly-once for staff: the gateway keeps
a request id once.

A person's requests follow them (`wire.requests`): a copy the gateway sends of one written
elsewhere is kept as theirs, shown only to them; when a new desired state says they no longer
live here, what of theirs was delivered is dropped (what still waits is sent first, as theirs).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping

import aiomqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.audit import AuditEvent, Background
from agent.expiry import ExpiryJudge, Held
from agent.outbox import Answer, Outbox
from agent.store import StoreError
from wire import topics
from wire.documents import Ack, device_audience
from wire.envelope import Accepted, Refused
from wire.localapi import RequestSaved, RequestView, SubmitRequest
from wire.requests import (
    MAX_OPEN,
    TOO_MANY_OPEN,
    Request,
    RequestReply,
    copy_ref,
    reply_ref,
)

log = logging.getLogger(__name__)

Audit = Callable[[str, str, str, str], Awaitable[None]]
"""(event, topic, reason, detail): the agent's audit trail."""

MAX_HELD_REPLIES = 16
"""Replies kept while only trusted time can judge them, and copies of requests of a person this
tablet does not (yet) know as an occupant (the oldest is dropped past this: the gateway sends an
unacknowledged reply again at the tablet's next birth)."""


class RequestDesk:
    def __init__(
        self,
        outbox: Outbox,
        *,
        device: str,
        trusted_keys: Mapping[str, Ed25519PublicKey],
        judge: ExpiryJudge,
        now_ms: Callable[[], int],
        audit: Audit,
        changed: Callable[[], None],
        here: Callable[[], set[str] | None] = lambda: None,
    ) -> None:
        """`here`: who lives in the tablet's cell by its applied desired state (None: not
        known, e.g. failed closed — no person's request is taken or dropped then)."""
        self._outbox = outbox
        self._device = device
        self._keys = trusted_keys
        self._judge = judge
        self._now_ms = now_ms
        self._audit = audit
        self._changed = changed
        self.topic_request = topics.tablet(device, topics.TabletChannel.REQUEST)
        self.topic_reply = topics.tablet(device, topics.TabletChannel.REPLY)
        self._topic_ack = topics.tablet(device, topics.TabletChannel.ACK)
        self._client: aiomqtt.Client | None = None
        self._flushing = asyncio.Lock()
        self._views: dict[str | None, tuple[RequestView, ...]] = {}
        self._background = Background(f"{device}: request delivery")
        self._held: list[bytes] = []
        self._not_yet_here: list[bytes] = []
        self._here = here

    def views(self, person: str | None) -> tuple[RequestView, ...]:
        """The newest requests `person` wrote (None: with nobody signed in), as the shell shows
        them (read at load and after each change)."""
        return self._views.get(person, ())

    async def load(self) -> None:
        self._views = await asyncio.to_thread(self._outbox.views)

    async def _reload(self) -> None:
        await self.load()
        self._changed()

    # -- from the shell ---------------------------------------------------------------------

    async def submit(self, submit: SubmitRequest, person: str | None = None) -> RequestSaved:
        """Store the request durably as `person`'s, then say so; delivery follows when
        connected (as theirs, wherever they are by then)."""
        request = Request(
            id=uuid.uuid4().hex, type=submit.type, text=submit.text, created=self._now_ms(),
            person=person,
        )
        try:
            if await asyncio.to_thread(self._outbox.waiting, person) >= MAX_OPEN:
                log.info("%s: request refused: %d already wait for an answer",
                         self._device, MAX_OPEN)
                return RequestSaved(ok=False, reason=TOO_MANY_OPEN)
            await asyncio.to_thread(self._outbox.add, request)
        except StoreError as exc:
            log.error("%s: cannot save a request: %s", self._device, exc)
            return RequestSaved(ok=False, reason="could not be saved on the tablet")
        await self._reload()
        if self._client is not None:
            self._background.spawn(self.flush())
        return RequestSaved(ok=True, id=request.id)

    async def add_event(self, channel: topics.TabletChannel, event_id: str, body: bytes) -> bool:
        """Keep something owed to the gateway on `channel` (exactly once by `event_id`); False
        when it could not be kept."""
        try:
            await asyncio.to_thread(self._outbox.add_event, event_id, channel.value, body,
                                    self._now_ms())
        except StoreError as exc:
            log.error("%s: cannot keep a %s event: %s", self._device, channel.value, exc)
            return False
        if self._client is not None:
            self._background.spawn(self.flush())
        return True

    # -- to and from the wing ---------------------------------------------------------------

    def connected(self, client: aiomqtt.Client | None) -> None:
        """The MQTT session started (deliver what waits) or ended (None)."""
        self._client = client
        if client is not None:
            self._background.spawn(self.flush())

    async def flush(self) -> None:
        """Publish every undelivered request (QoS 1) and mark each once the broker has it."""
        async with self._flushing:
            try:
                pending = await asyncio.to_thread(self._outbox.undelivered)
            except StoreError as exc:
                log.error("%s: outbox unreadable: %s", self._device, exc)
                return
            for request in pending:
                client = self._client
                if client is None:
                    return
                try:
                    await client.publish(
                        self.topic_request, request.model_dump_json().encode(), qos=1,
                        timeout=10,
                    )
                except aiomqtt.MqttError as exc:  # left waiting: sent again on reconnect
                    log.warning("%s: request %s not delivered: %s", self._device, request.id, exc)
                    return
                try:
                    await asyncio.to_thread(self._outbox.mark_delivered, request.id)
                except StoreError as exc:  # sent again later; the gateway ignores the copy
                    log.error("%s: cannot mark request delivered: %s", self._device, exc)
                    return
            if pending:
                await self._forget_others()
                await self._reload()
            await self._flush_events()

    async def _flush_events(self) -> None:
        try:
            pending = await asyncio.to_thread(self._outbox.undelivered_events)
        except StoreError as exc:
            log.error("%s: outbox unreadable: %s", self._device, exc)
            return
        for event_id, channel, body in pending:
            client = self._client
            if client is None:
                return
            try:
                topic = topics.tablet(self._device, topics.TabletChannel(channel))
                await client.publish(topic, body, qos=1, timeout=10)
            except aiomqtt.MqttError as exc:
                log.warning("%s: event %s not delivered: %s", self._device, event_id, exc)
                return
            except ValueError:  # a channel this agent no longer knows: never deliverable
                log.error("%s: event %s on unknown channel %r", self._device, event_id, channel)
            try:
                await asyncio.to_thread(self._outbox.mark_event_delivered, event_id)
            except StoreError as exc:
                log.error("%s: cannot mark event delivered: %s", self._device, exc)
                return

    async def on_reply(self, raw: bytes) -> None:
        """Verify staff's reply, keep it, acknowledge it; refusals are audited and acked. A
        reply only the untrusted system clock calls expired waits for trusted time
        (`time_trusted`), unacknowledged."""
        verdict = self._judge.open(
            raw, RequestReply, trusted_keys=self._keys, audience=device_audience(self._device)
        )
        if isinstance(verdict, Held):
            self._held = [*self._held[-(MAX_HELD_REPLIES - 1):], raw]
            await self._audit(AuditEvent.HELD, self.topic_reply, "untrusted_clock", verdict.detail)
            return
        if isinstance(verdict, Refused):
            await self._refuse(reply_ref("?"), verdict.reason.value, verdict.detail)
            return
        assert isinstance(verdict, Accepted)
        reply = verdict.document
        assert isinstance(reply, RequestReply)
        asked = reply.asked
        ref = reply_ref(reply.request) if reply.text is not None else copy_ref(reply.request)
        here = self._here()
        if asked is not None and (here is None or asked.person not in here):
            # Sent after a move, before the desired state naming them here: judged again when
            # the occupants change (the gateway sends it again at the next birth otherwise).
            self._not_yet_here = [*self._not_yet_here[-(MAX_HELD_REPLIES - 1):], raw]
            await self._audit(AuditEvent.HELD, self.topic_reply, "not_an_occupant",
                              f"request {reply.request}")
            return
        try:
            writer = await asyncio.to_thread(self._outbox.writer, reply.request)
            if writer is None and asked is None:
                await self._refuse(ref, "unknown_request", "no such request on this tablet")
                return
            if writer is not None and asked is not None and writer[0] != asked.person:
                await self._refuse(ref, "wrong_person",
                                   f"request {reply.request} is another person's here")
                return
            changed = False
            if writer is None and asked is not None:
                await asyncio.to_thread(self._outbox.add_copy, reply.request, asked)
                changed = True
            if reply.text is not None and reply.by is not None and \
                    await asyncio.to_thread(self._outbox.answer, reply.request) is None:
                await asyncio.to_thread(
                    self._outbox.set_answer, reply.request, Answer(reply.text, reply.by), raw
                )
                await self._audit("applied", self.topic_reply, "", f"reply to {reply.request}")
                changed = True
            if changed:
                await self._reload()
        except StoreError as exc:
            log.error("%s: cannot keep a reply: %s", self._device, exc)
            return  # not acknowledged: the gateway sends it again at the next birth
        await self._ack(ref, "succeeded", "")

    async def _refuse(self, ref: str, reason: str, detail: str) -> None:
        await self._audit("refused", self.topic_reply, reason, detail)
        await self._ack(ref, "rejected", f"{reason}: {detail}")

    async def occupants_changed(self) -> None:
        """A new desired state: the delivered requests of people who left are dropped, and
        copies held for people not yet known here are judged again."""
        await self._forget_others()
        await self._reload()
        held, self._not_yet_here = self._not_yet_here, []
        for raw in held:
            await self.on_reply(raw)

    async def _forget_others(self) -> None:
        here = self._here()
        if here is None:
            return
        try:
            dropped = await asyncio.to_thread(self._outbox.forget_others, here)
        except StoreError as exc:
            log.error("%s: cannot forget the requests of people who left: %s", self._device, exc)
            return
        if dropped:
            log.info("%s: %d requests of people who left dropped", self._device, dropped)

    async def _ack(self, ref: str, state: str, reason: str) -> None:
        client = self._client
        if client is None:
            return
        ack = Ack.model_validate(
            {"ref": ref, "state": state, "reason": reason[:500], "at": self._now_ms()}
        )
        await client.publish(self._topic_ack, ack.model_dump_json().encode(), qos=1)

    async def time_trusted(self) -> None:
        """Judge the held replies again, now by the trusted time."""
        held, self._held = self._held, []
        for raw in held:
            await self.on_reply(raw)

    async def close(self) -> None:
        await self._background.close()
        await asyncio.to_thread(self._outbox.close)
