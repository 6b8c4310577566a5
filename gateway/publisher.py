"""The publisher: the only code that sends to the broker, and the one place that decides what to
send again, because the broker is a transport that forgets.

It sends the issuer's current documents: all of them on every (re)connect, and to a tablet born
(`status` online) what it has not reported applying. A wing-wide document re-sent for births is
coalesced (at most once per `lockdown_coalesce_s`, however many tablets are born), and one
tablet's births are spaced (`Spacing`), so a tablet reconnecting in a loop cannot make the gateway
publish per connect.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiomqtt

from gateway.config import GatewayConfig
from gateway.desired import is_behind
from gateway.fleet import Fleet
from gateway.issuer import Issuer
from gateway.throttle import Spacing
from wire import topics
from wire.topics import TabletChannel

log = logging.getLogger(__name__)

BIRTH_SPACING_MS = 2_000

IN_FLIGHT = 10
"""QoS 1 publishes awaiting their PUBACK at once. A wing's 2,000 births or a reconnect's 2,000
retained documents wait their turn here, in order, instead of piling up in the client (aiomqtt
warns beyond 10 pending calls, and paho would queue them past its own in-flight window anyway):
the broker acknowledges one every ~0.1 ms, so a window of 10 keeps the link full."""


class Publisher:
    def __init__(self, config: GatewayConfig, issuer: Issuer, fleet: Fleet,
                 clock: Callable[[], int]) -> None:
        self._issuer = issuer
        self._fleet = fleet
        self._clock = clock
        self._coalesce_s = config.lockdown_coalesce_s
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._soon: dict[str, asyncio.Task[None]] = {}
        self._sent_at: dict[str, float] = {}
        self._births = Spacing(BIRTH_SPACING_MS)
        self._window = asyncio.Semaphore(IN_FLIGHT)
        self.on_reconcile: list[Callable[[str], None]] = []
        """Also called for a tablet being reconciled (a feature's own documents to re-send)."""
        self.on_connect: list[Callable[[], Awaitable[None]]] = []
        """Also awaited on every (re)connect (a feature's own documents to re-send)."""

    # -- the session -----------------------------------------------------------------------

    def attach(self, client: aiomqtt.Client) -> None:
        """Connected: publish through `client`, and give the broker back every document (it may
        have lost them all)."""
        self._client = client
        self.connected.set()
        self.spawn(self.republish_all())

    def detach(self) -> None:
        self._client = None
        self.connected.clear()

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run `coroutine` beside the session; cancelled when the gateway stops."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def publish(self, topic: str, payload: bytes, *, retain: bool, qos: int = 1) -> bool:
        client = self._client
        if client is None:
            return False
        try:
            async with self._window:
                await client.publish(topic, payload, qos=qos, retain=retain, timeout=10)
        except aiomqtt.MqttError as exc:
            # Not lost: the record is in SQLite and goes out again on reconnect or birth.
            log.warning("publish to %s failed: %s", topic, exc)
            return False
        return True

    # -- the issuer's documents ------------------------------------------------------------

    async def desired(self, *devices: str) -> None:
        """Each tablet's current desired state (retained)."""
        stored = [(d, self._issuer.desired.get(d)) for d in devices]
        await asyncio.gather(*(
            self.publish(topics.tablet(d, TabletChannel.DESIRED), s.envelope, retain=True)
            for d, s in stored if s is not None
        ))

    async def lockdown(self) -> None:
        if self._issuer.lockdown is not None:
            self._sent_at[topics.WING_LOCKDOWN] = asyncio.get_running_loop().time()
            await self.publish(topics.WING_LOCKDOWN, self._issuer.lockdown.envelope, retain=True)

    async def policy(self) -> None:
        if self._issuer.policy is not None:
            self._sent_at[topics.WING_POLICY] = asyncio.get_running_loop().time()
            await self.publish(topics.WING_POLICY, self._issuer.policy.envelope, retain=True)

    async def republish_all(self) -> None:
        await asyncio.gather(
            self.lockdown(),
            self.policy(),
            *(hook() for hook in self.on_connect),
            self.desired(*(d for d in self._issuer.desired if d in self._fleet.tablets)),
        )

    def soon(self, key: str, send: Callable[[], Awaitable[None]], *, spacing_s: float = 0.0,
             delay_s: float = 0.0) -> None:
        """Call `send` once, `delay_s` from now and at least `spacing_s` after `key` was last
        published; calls meanwhile join that one (coalescing)."""
        pending = self._soon.get(key)
        if pending is not None and not pending.done():
            return
        loop = asyncio.get_running_loop()
        delay = max(delay_s, self._sent_at.get(key, float("-inf")) + spacing_s - loop.time())

        async def later() -> None:
            await asyncio.sleep(delay)
            await send()

        self._soon[key] = self.spawn(later())

    # -- births ------------------------------------------------------------------------------

    def on_birth(self, device: str, now: int) -> None:
        """Reconcile at once, or once at the end of the tablet's birth spacing (a tablet
        reconnecting in a loop gets one reconcile per interval, never one per connect)."""
        delay = self._births.request(device, now)
        if delay == 0:
            self.reconcile(device)
        elif delay is not None:
            log.info("%s reconnected within %d ms: reconcile deferred by %d ms",
                     device, BIRTH_SPACING_MS, delay)

            async def deferred() -> None:
                await asyncio.sleep(delay / 1000)
                self._births.ran(device, self._clock())
                self.reconcile(device)

            self.spawn(deferred())

    def reconcile(self, device: str) -> None:
        """A tablet was born: give it what it has not reported as applied."""
        for hook in self.on_reconcile:
            hook(device)
        report = self._fleet.reported.get(device)
        policy = self._issuer.policy
        if policy is not None and (report is None or report.policy_hash != policy.hash):
            self.soon(topics.WING_POLICY, self.policy, spacing_s=self._coalesce_s)
        stored = self._issuer.desired.get(device)
        if stored is not None and is_behind(
            stored.document.version, report.desired_version if report else None
        ):
            self.spawn(self.desired(device))
        lockdown = self._issuer.lockdown
        if lockdown is not None and is_behind(
            lockdown.document.version, report.lockdown_version if report else None
        ):
            self.soon(topics.WING_LOCKDOWN, self.lockdown, spacing_s=self._coalesce_s)
