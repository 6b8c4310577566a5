"""What tablets send: one table from channel to handler, and one refusal path.

Every message is checked before anything is believed: the topic names a registered tablet that is
not revoked, the payload is under its size cap and is the document its channel carries, and a
report names the tablet whose connection sent it. Anything else is refused and audited (once per
window per tablet and kind, with a count of the rest), and the gateway keeps serving.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiomqtt
from pydantic import BaseModel, ValidationError

from gateway.config import GatewayConfig
from gateway.fleet import Fleet
from gateway.revoked_watch import RevokedWatch, watch
from gateway.store import Audit, Store
from gateway.store_thread import StoreThread
from gateway.throttle import AuditThrottle
from wire import topics
from wire.documents import Ack, ReportedState, Status
from wire.topics import TabletChannel

log = logging.getLogger(__name__)

TELEMETRY_MAX_BYTES = 4096
BAD_MESSAGE_WINDOW_MS = 10_000
UNKNOWN_TABLET_WINDOW_MS = 3_600_000

M = TypeVar("M", bound=BaseModel)
Handler = Callable[[str, bytes, bool, int], Awaitable[None]]
"""(device, payload, retained, now): handles one message; raises Refused to refuse it."""


class Refused(Exception):
    """A message the gateway will not take; `reason` ("kind: detail") goes to the audit trail."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse(model: type[M], payload: bytes) -> M:
    """The document `payload` holds, or Refused: over its size cap, or malformed."""
    cap: int = getattr(model, "MAX_BYTES", TELEMETRY_MAX_BYTES)
    if len(payload) > cap:
        raise Refused(f"over_size_cap: {len(payload)} bytes, cap {cap}")
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        raise Refused(f"malformed: {where}: {first['msg']}") from exc


class Inbound:
    def __init__(self, config: GatewayConfig, fleet: Fleet, store: Store, io: StoreThread,
                 clock: Callable[[], int]) -> None:
        self._fleet = fleet
        self._store = store
        self._io = io
        self._clock = clock
        self._bad_messages = AuditThrottle(BAD_MESSAGE_WINDOW_MS)
        self._unknown_tablets = AuditThrottle(UNKNOWN_TABLET_WINDOW_MS)
        self._revoked_tablets = AuditThrottle(UNKNOWN_TABLET_WINDOW_MS)
        self.revoked: RevokedWatch | None = watch(config.revoked_list)
        """The wing's revoked list, if configured (shared with the part that ends sessions)."""
        self.routes: dict[TabletChannel, Handler] = {
            TabletChannel.REPORTED: self._reported,
            TabletChannel.STATUS: self._status,
            TabletChannel.ACK: self._ack,
            TabletChannel.TELEMETRY: self._telemetry,
        }
        """Channel → handler; a feature adds the channel it serves (requests)."""
        self.on_report: list[Callable[[ReportedState], None]] = []
        self.on_refused: list[Callable[[str, Ack], None]] = []
        """(device, ack): a tablet refused a document the gateway sent it."""
        self.on_ack: list[Callable[[str, Ack], Awaitable[None]]] = []
        self.on_birth: list[Callable[[str, int], None]] = []
        """(device, now): a tablet came online (a live `online` status, not a replayed one)."""

    async def handle(self, message: aiomqtt.Message) -> None:
        try:
            await self._handle(message)
        except Exception:
            # A bug must not take the wing's gateway down; it is logged loudly instead.
            log.exception("error handling a message on %s", message.topic)

    async def _handle(self, message: aiomqtt.Message) -> None:
        topic = topics.parse_tablet(str(message.topic))
        if topic is None:
            return
        device, channel = topic.device_id, topic.channel
        payload = message.payload if isinstance(message.payload, bytes | bytearray) else b""
        now = self._clock()
        if device not in self._fleet.tablets:
            await self._ignore(self._unknown_tablets, "unknown_tablet", device, message, now)
            return
        if self.revoked is not None and self.revoked.is_revoked(device):
            await self._ignore(self._revoked_tablets, "revoked_tablet", device, message, now)
            return
        handler = self.routes.get(channel)
        try:
            if handler is None:
                raise Refused("tablets do not publish on this channel")
            await handler(device, bytes(payload), bool(message.retain), now)
        except Refused as refusal:
            await self.refuse(device, channel, refusal.reason, now)

    async def _ignore(self, throttle: AuditThrottle, action: str, device: str,
                      message: aiomqtt.Message, now: int) -> None:
        admitted = throttle.admit(device, now)
        if admitted is not None:
            await self._audit(Audit(now, f"tablet:{device}", action, f"device:{device}", {
                "topic": str(message.topic), "suppressed": admitted}))

    async def refuse(self, device: str, channel: TabletChannel, reason: str, now: int) -> None:
        """Audit a refused message (once per window per tablet, channel and kind of reason)."""
        log.warning("refused %s from %s: %s", channel.value, device, reason)
        suppressed = self._bad_messages.admit((device, channel, reason.split(":")[0]), now)
        if suppressed is not None:
            await self._audit(Audit(now, f"tablet:{device}", "invalid_message", f"device:{device}",
                                    {"channel": channel.value, "reason": reason,
                                     "suppressed": suppressed}))

    async def _audit(self, audit: Audit) -> None:
        await self._io(self._store.append, audit)

    # -- the channels --------------------------------------------------------------------

    async def _reported(self, device: str, payload: bytes, retained: bool, now: int) -> None:
        report = parse(ReportedState, payload)
        if report.device != device:
            raise Refused(f"mis-addressed: names {report.device!r}")
        self._fleet.observe_report(report, retained, now)
        for listener in self.on_report:
            listener(report)

    async def _status(self, device: str, payload: bytes, retained: bool, now: int) -> None:
        status = parse(Status, payload)
        self._fleet.observe_status(device, status, retained, now)
        # A retained `online` is an old birth replayed on our own subscribe, not a new one (we
        # re-publish everything on connect anyway).
        if status.state == "online" and not retained:
            for listener in self.on_birth:
                listener(device, now)

    async def _ack(self, device: str, payload: bytes, _retained: bool, now: int) -> None:
        ack = parse(Ack, payload)
        self._fleet.touch(device, now)
        if ack.state == "rejected":
            suppressed = self._bad_messages.admit((device, "refused", ack.ref), now)
            if suppressed is not None:
                await self._audit(Audit(now, f"tablet:{device}", "tablet_refused",
                                        f"device:{device}", {"ref": ack.ref, "reason": ack.reason,
                                                             "suppressed": suppressed}))
            for refused in self.on_refused:
                refused(device, ack)
        for listener in self.on_ack:
            await listener(device, ack)

    async def _telemetry(self, device: str, payload: bytes, _retained: bool, now: int) -> None:
        if len(payload) > TELEMETRY_MAX_BYTES:
            raise Refused(f"over_size_cap: {len(payload)} bytes")
        try:
            ok = isinstance(json.loads(payload), dict)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than parsable
            ok = False
        if not ok:
            raise Refused("malformed: not a JSON object")
        self._fleet.touch(device, now)

