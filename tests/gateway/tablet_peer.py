"""A tablet's side of the wire, as a plain MQTT peer: it verifies what the gateway publishes with
`wire.envelope.open_envelope` (as the agent does) and answers with a `ReportedState`.

Not the agent: the gateway's tests need a peer they can make silent, forgetful or hostile.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from wire import topics
from wire.documents import (
    Ack,
    DesiredState,
    LockView,
    ReportedState,
    SignedBody,
    SignedTime,
    Status,
    WingLockdown,
    device_audience,
    wing_audience,
)
from wire.envelope import Accepted, AppliedMark, Refused, open_envelope
from wire.topics import TabletChannel


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Received:
    topic: str
    retain: bool
    verdict: Any
    payload: bytes


@dataclass
class TabletPeer:
    host: str
    port: int
    device: str
    wing: str
    trusted_keys: dict[str, Ed25519PublicKey]
    answer: bool = True
    refuse: str = ""
    """When set, refuse every state document with this reason (an ack), as a tablet would."""
    tls: ssl.SSLContext | None = None
    received: list[Received] = field(default_factory=list)
    desired_mark: AppliedMark | None = None
    lockdown_mark: AppliedMark | None = None
    desired: DesiredState | None = None
    lockdown: WingLockdown | None = None
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _client: aiomqtt.Client | None = None
    _task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> TabletPeer:
        self._client = aiomqtt.Client(
            self.host, self.port, identifier=self.device, protocol=aiomqtt.ProtocolVersion.V5,
            tls_context=self.tls,
        )
        await self._client.__aenter__()
        await self._client.subscribe(
            [(topics.tablet(self.device, TabletChannel.DESIRED), 1), (topics.WING_ALL, 1)]
        )
        self._task = asyncio.create_task(self._receive())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            # Bounded: a receive loop stuck in aiomqtt after its connection dropped would turn
            # the test's own failure into a silent hang until pytest's timeout.
            await asyncio.wait({self._task}, timeout=5.0)
            if self._task.done() and not self._task.cancelled():
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    self._task.result()
        if self._client is not None:
            with contextlib.suppress(aiomqtt.MqttError):
                await self._client.__aexit__(None, None, None)

    @property
    def client(self) -> aiomqtt.Client:
        assert self._client is not None
        return self._client

    async def birth(self, boot_id: str = "boot-1") -> None:
        """What the agent does on connect: status online (retained)."""
        await self.publish(
            TabletChannel.STATUS,
            Status(state="online", boot_id=boot_id, at=now_ms()).model_dump_json().encode(),
            retain=True,
        )

    async def publish(self, channel: TabletChannel, payload: bytes, *, retain: bool = False,
                      device: str | None = None) -> None:
        await self.client.publish(topics.tablet(device or self.device, channel), payload, qos=1,
                                  retain=retain)

    async def report(self) -> None:
        lock = self._lock_view()
        report = ReportedState(
            device=self.device,
            desired_version=self.desired_mark.version if self.desired_mark else 0,
            lockdown_version=self.lockdown_mark.version if self.lockdown_mark else 0,
            lock=lock,
            profile=self.desired.profile if self.desired else "standard",
            at=now_ms(),
            boot_id="boot-1",
            agent_version="test-peer",
        )
        await self.publish(TabletChannel.REPORTED, report.model_dump_json().encode(), retain=True)

    def _lock_view(self) -> LockView:
        if self.desired and self.desired.lock.locked:
            order, source = self.desired.lock, "device"
        elif self.lockdown and self.lockdown.lock.locked:
            order, source = self.lockdown.lock, "wing"
        else:
            return LockView(locked=False)
        return LockView(locked=True, source=source, by=order.by, reason=order.reason,  # type: ignore[arg-type]
                        since=order.since)

    async def _receive(self) -> None:
        async for message in self.client.messages:
            topic = str(message.topic)
            payload = message.payload if isinstance(message.payload, bytes) else b""
            verdict = self._open(topic, payload)
            self.received.append(Received(topic, bool(message.retain), verdict, payload))
            if isinstance(verdict, Accepted) and self.refuse and not isinstance(
                verdict.document, SignedTime
            ):
                kind = "desired" if isinstance(verdict.document, DesiredState) else "lockdown"
                ack = Ack(ref=f"{kind}/{verdict.document.version}", state="rejected",
                          reason=self.refuse, at=now_ms())
                await self.publish(TabletChannel.ACK, ack.model_dump_json().encode())
            elif isinstance(verdict, Accepted):
                document = verdict.document
                mark = AppliedMark(document.version, verdict.digest)
                if isinstance(document, DesiredState):
                    self.desired, self.desired_mark = document, mark
                elif isinstance(document, WingLockdown):
                    self.lockdown, self.lockdown_mark = document, mark
                if self.answer and not isinstance(document, SignedTime):
                    await self.report()
            async with self._changed:
                self._changed.notify_all()

    def _open(self, topic: str, payload: bytes) -> Any:
        kind: type[SignedBody]
        if topic == topics.tablet(self.device, TabletChannel.DESIRED):
            kind, audience, mark = DesiredState, device_audience(self.device), self.desired_mark
        elif topic == topics.WING_LOCKDOWN:
            kind, audience, mark = WingLockdown, wing_audience(self.wing), self.lockdown_mark
        elif topic == topics.WING_TIME:
            kind, audience, mark = SignedTime, wing_audience(self.wing), None
        else:
            return Refused(reason=None, detail=f"unexpected topic {topic}")  # type: ignore[arg-type]
        return open_envelope(payload, kind, trusted_keys=self.trusted_keys, audience=audience,
                             now_ms=now_ms(), applied=mark)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        """Wait for `predicate` to hold after some message arrives (timeout: the test fails)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    def on(self, topic: str) -> list[Received]:
        return [r for r in self.received if r.topic == topic]
