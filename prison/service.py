"""The prison service: one MQTT session with the prison broker. It records what the wings'
bridges bring up (link state, tablets' reports and status, audit entries, answers to commands,
each gateway's summary of its wing)
and sends each wing the newest prison command, again whenever that wing's link comes back.

The store is the record: the CLI adds commands to it, the service notices and sends them.

The store may go away (the PostgreSQL server stops or restarts, SQLite hits a disk error): the
service keeps running. What it had already received from the broker but could not write is held
in memory (at most `HELD_MAX` messages) and it leaves the prison broker, so everything after stays
queued in its persistent session there, as when the service itself is down. It retries the store
with jittered exponential backoff (tenacity); once the store answers it writes what it held, in
order, and connects again: the queue drains, and the retained `reported`/`status`/`applied`/
`summary`/`link` messages come again on subscription. Nothing is sent down while the store is
away (a command is only ever sent from the store's record), and the CLI refuses new commands
because it cannot record them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable

import aiomqtt
from pydantic import ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_random_exponential

from common.mqtt import make_client, run_reconnecting
from prison.config import PrisonConfig
from prison.store import StoreUnavailable
from wire import prison as wp
from wire import topics
from wire.documents import ReportedState, Status
from wire.topics import TabletChannel

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 7 * 86400
COMMAND_POLL_S = 0.2
SYNC_SPACING_S = 2.0
MAX_PAYLOAD = 512 * 1024
"""Nothing a wing sends up is larger (the largest, a command's answer, is capped at this)."""
HELD_MAX = 10_000
"""Messages received but not yet written, held while the store is away (the rest stays queued at
the prison broker). Past this the oldest go; what they said comes back anyway (retained state
on resubscription, audit entries by the sync request on the gap)."""
STORE_BACKOFF_MAX_S = 15.0


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class PrisonService:
    def __init__(self, config: PrisonConfig, *, clock: Callable[[], int] = wall_ms) -> None:
        self.config = config
        self.clock = clock
        self.store = config.open_store()
        self.connected = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._sent: dict[str, int] = {}
        """Per wing, the newest command version sent on this session."""
        self._synced: dict[str, float] = {}
        self.store_available = asyncio.Event()
        """Set while the store answers; cleared from a failed call until it answers again."""
        self.store_available.set()
        self._held: deque[tuple[str, bytes]] = deque(maxlen=HELD_MAX)
        self._store_lock = asyncio.Lock()

    async def run(self) -> None:
        async with asyncio.TaskGroup() as group:
            group.create_task(run_reconnecting(self._session,
                                               backoff_max_s=self.config.broker.backoff_max_s,
                                               name=f"prison {self.config.prison}"))
            group.create_task(self._send_commands())

    def close(self) -> None:
        self.store.close()

    async def _session(self) -> None:
        await self._store_back()  # not before the store answers: the broker queues meanwhile
        client = make_client(self.config.broker, f"prison-{self.config.prison}",
                             persistent_session_s=SESSION_EXPIRY_S)
        async with client:
            await client.subscribe([(f, 1) for f in wp.WING_UP_FILTERS])
            self._client = client
            self._sent.clear()
            self.connected.set()
            try:
                async for message in client.messages:
                    received = (str(message.topic), bytes(message.payload))
                    try:
                        await self._handle(*received)
                    except StoreUnavailable as exc:
                        self._store_lost(exc)
                        self._held.append(received)
                        while len(client.messages):  # received (acknowledged) already: hold
                            message = await anext(client.messages)
                            self._held.append((str(message.topic), bytes(message.payload)))
                        log.warning("holding %d messages; leaving the prison broker until the "
                                    "store is back (it queues the rest)", len(self._held))
                        return
            finally:
                self._client = None
                self.connected.clear()

    # -- the store going away ------------------------------------------------------------------

    def _store_lost(self, exc: StoreUnavailable) -> None:
        if self.store_available.is_set():
            log.error("prison store unavailable: %s", exc)
        self.store_available.clear()

    async def _store_back(self) -> None:
        """Return once the store answers and what was held meanwhile is written, retrying with
        jittered exponential backoff."""
        async with self._store_lock:
            if self.store_available.is_set() and not self._held:
                return

            def waiting(state: RetryCallState) -> None:
                outcome = state.outcome
                log.info("prison store still unavailable (%s); retrying",
                         outcome.exception() if outcome else "")

            async for attempt in AsyncRetrying(
                    retry=retry_if_exception_type(StoreUnavailable),
                    wait=wait_random_exponential(multiplier=0.5, max=STORE_BACKOFF_MAX_S),
                    before_sleep=waiting, reraise=True):
                with attempt:
                    self.store.ping()
                    while self._held:
                        await self._handle(*self._held[0])
                        self._held.popleft()
            if not self.store_available.is_set():
                log.warning("prison store available again")
            self.store_available.set()

    # -- down ------------------------------------------------------------------------------

    async def _send_commands(self) -> None:
        while True:
            await asyncio.sleep(COMMAND_POLL_S)
            if not self.store_available.is_set():
                await self._store_back()
                continue
            try:
                command = self.store.latest_command()
            except StoreUnavailable as exc:
                self._store_lost(exc)
                continue
            client = self._client
            if command is not None and client is not None:
                for wing in self.config.wings:
                    if self._sent.get(wing, 0) < command.version:
                        await self._send(client, wing, command.envelope, command.version)

    async def _send(self, client: aiomqtt.Client, wing: str, envelope: bytes, version: int
                    ) -> None:
        try:
            await client.publish(wp.at_prison(wing, wp.PRISON_COMMAND), envelope, qos=1,
                                 retain=True, timeout=10)
        except aiomqtt.MqttError as exc:
            log.warning("sending command %s to wing %s failed: %s", version, wing, exc)
            return
        self._sent[wing] = version

    async def _sync(self, wing: str, after: int) -> None:
        client = self._client
        if client is None:
            return
        request = wp.SyncRequest(after=after).model_dump_json().encode()
        try:
            await client.publish(wp.at_prison(wing, wp.PRISON_SYNC), request, qos=1, timeout=10)
        except aiomqtt.MqttError as exc:
            log.warning("sync request to wing %s failed: %s", wing, exc)

    # -- up --------------------------------------------------------------------------------

    async def _handle(self, topic: str, payload: bytes) -> None:
        where = wp.split_prison_topic(topic)
        if where is None or where[0] not in self.config.wings:
            log.warning("ignoring %s: not a wing of this prison", topic[:200])
            return
        wing, local = where
        if len(payload) > MAX_PAYLOAD:
            log.warning("refused %s: %d bytes", topic[:200], len(payload))
            return
        try:
            if local == "link":
                await self._link(wing, payload == b"1")
            elif local == wp.UPLINK_APPLIED:
                self.store.put_applied(wing, wp.Applied.model_validate_json(payload))
            elif local == wp.UPLINK_SUMMARY:
                self.store.put_summary(wing, wp.WingSummary.model_validate_json(payload))
            elif local == wp.UPLINK_AUDIT:
                await self._audit(wing, wp.AuditUp.model_validate_json(payload))
            else:
                parsed = topics.parse_tablet(local)
                if parsed is None:
                    log.warning("ignoring %s", topic[:200])
                elif parsed.channel is TabletChannel.REPORTED:
                    report = ReportedState.model_validate_json(payload)
                    if report.device == parsed.device_id:
                        self.store.put_reported(wing, report)
                elif parsed.channel is TabletChannel.STATUS:
                    self.store.put_status(wing, parsed.device_id,
                                          Status.model_validate_json(payload))
        except ValidationError as exc:
            log.warning("malformed %s refused: %s", topic[:200], exc.errors()[0]["msg"])

    async def _link(self, wing: str, up: bool) -> None:
        self.store.set_link(wing, up, self.clock())
        if up:
            # The bridge is back: the newest command again (a wing lost nothing it has applied:
            # it answers a re-sent one from its record), and the audit after what we hold.
            self._sent.pop(wing, None)
            await self._sync(wing, self.store.audit_head(wing)[0])

    async def _audit(self, wing: str, entry: wp.AuditUp) -> None:
        head = self.store.audit_head(wing)[0]
        self.store.put_audit(wing, entry)
        if entry.seq > head + 1 and time.monotonic() - self._synced.get(wing, 0) > SYNC_SPACING_S:
            # A gap (entries lost past a queue's limit, or a gateway restarted mid-stream):
            # ask for what follows our head, at most once per spacing.
            self._synced[wing] = time.monotonic()
            await self._sync(wing, head)
