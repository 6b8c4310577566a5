"""The wing gateway service: signs and publishes desired state, records what tablets report, and
reconciles, because the broker is a transport that forgets and this service is the durable record.

One asyncio task holds the MQTT session (reconnecting with backoff); the others beat the signed
time, re-issue documents before they expire, and write observations to SQLite in batches. Staff
actions (`lock`, `register`) are coroutines the control API calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any, Literal

import aiomqtt
from pydantic import ValidationError

from common.config import ConfigError
from common.mqtt import make_client, run_reconnecting
from gateway.config import GatewayConfig
from gateway.desired import (
    LockRequest,
    first_desired,
    is_behind,
    needs_reissue,
    next_desired,
    next_lockdown,
    reissued,
)
from gateway.policy_service import PolicyPublisher
from gateway.requests import RequestDesk
from gateway.revoked_watch import RevokedListError, RevokedWatch
from gateway.store import AuditEntry, ChainCheck, Store, StoredDocument, Tablet, TabletStatus
from gateway.throttle import AuditThrottle, Spacing
from wire import topics
from wire.documents import (
    Ack,
    DesiredState,
    ReportedState,
    SignedTime,
    Status,
    UpdateTarget,
    WingLockdown,
    wing_audience,
)
from wire.envelope import private_key_from_pem, seal
from wire.topics import TabletChannel

log = logging.getLogger(__name__)

TELEMETRY_MAX_BYTES = 4096
SESSION_EXPIRY_S = 86400
FLUSH_GATHER_S = 0.05
BAD_MESSAGE_WINDOW_MS = 10_000
UNKNOWN_TABLET_WINDOW_MS = 3_600_000
BIRTH_SPACING_MS = 2_000


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class TargetError(Exception):
    """A staff request names something that is not there (unknown tablet, empty cell)."""


class InputError(Exception):
    """A staff request that cannot be carried out as given (empty reason, no target)."""


@dataclass(frozen=True, slots=True)
class Selector:
    """Exactly one of: a list of tablets, a cell, a landing, or the whole wing."""

    devices: tuple[str, ...] = ()
    cell: str | None = None
    landing: str | None = None
    wing: bool = False

    def describe(self, wing_id: str) -> str:
        if self.wing:
            return f"wing:{wing_id}"
        if self.cell is not None:
            return f"cell:{self.cell}"
        if self.landing is not None:
            return f"landing:{self.landing}"
        shown = ",".join(self.devices[:20])
        more = len(self.devices) - 20
        return f"devices:{shown}" + (f" (+{more})" if more > 0 else "")


@dataclass(frozen=True, slots=True)
class LockOutcome:
    targets: list[str]
    version: int
    confirmed: list[str]
    pending: list[str]
    """Not confirmed: did not answer in time, or refused (then also in `rejected`)."""
    rejected: dict[str, str]
    """Targets that refused the document they were sent, with their reason."""


@dataclass(eq=False)
class _Waiter:
    """One staff request waiting for its targets to report the version it issued to each."""

    kind: Literal["desired", "lockdown"]
    needs: dict[str, int]
    pending: set[str]
    rejected: dict[str, str] = field(default_factory=dict)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def applied(self, report: ReportedState) -> None:
        device = report.device
        have = report.desired_version if self.kind == "desired" else report.lockdown_version
        if device in self.pending and not is_behind(self.needs[device], have):
            self.pending.discard(device)
            self.rejected.pop(device, None)
        self._settle()

    def refused(self, device: str, ref: str, reason: str) -> None:
        """The tablet refused the very document this request issued to it."""
        if device in self.pending and ref == f"{self.kind}/{self.needs[device]}":
            self.rejected[device] = reason
        self._settle()

    def _settle(self) -> None:
        # Done when every target has applied it or said it never will.
        if self.pending <= self.rejected.keys():
            self.done.set()


class GatewayService:
    def __init__(self, config: GatewayConfig, *, clock: Callable[[], int] = wall_ms) -> None:
        self.config = config
        self.clock = clock
        try:
            self._key = private_key_from_pem(config.signing_key.read_bytes())
        except OSError as exc:
            raise ConfigError(f"cannot read signing key {config.signing_key}: {exc.strerror}"
                              ) from exc
        except ValueError as exc:
            raise ConfigError(f"signing key {config.signing_key}: {exc}") from exc
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.store = Store(config.database)
        now = clock()
        seeded = self.store.add_tablets(
            [Tablet(seed.id, seed.cell, seed.landing) for seed in config.tablets], now
        )
        if seeded:
            self.store.audit(now, "config", "register", f"wing:{config.wing}", {
                "tablets": [{"id": t.id, "cell": t.cell, "landing": t.landing} for t in seeded]})
        self.tablets: dict[str, Tablet] = {t.id: t for t in self.store.tablets()}
        self.desired: dict[str, StoredDocument[DesiredState]] = self.store.desired()
        self.reported: dict[str, ReportedState] = self.store.reported()
        self._issue_first_desired([t for t in self.tablets if t not in self.desired], now)
        self.lockdown: StoredDocument[WingLockdown] | None = self.store.lockdown(config.wing)
        self.statuses: dict[str, TabletStatus] = self.store.statuses()
        self._client: aiomqtt.Client | None = None
        self.connected = asyncio.Event()
        self._waiters: list[_Waiter] = []
        self._dirty_reported: dict[str, tuple[ReportedState, int]] = {}
        self._dirty_status: dict[str, tuple[Status, int]] = {}
        self._dirty = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._lockdown_republish: asyncio.Task[None] | None = None
        self._lockdown_published_at = float("-inf")
        self._bad_messages = AuditThrottle(BAD_MESSAGE_WINDOW_MS)
        self._unknown_tablets = AuditThrottle(UNKNOWN_TABLET_WINDOW_MS)
        self._births = Spacing(BIRTH_SPACING_MS)
        self._revoked_tablets = AuditThrottle(UNKNOWN_TABLET_WINDOW_MS)
        self._revoked: RevokedWatch | None = None
        if config.revoked_list is not None:
            try:
                self._revoked = RevokedWatch(config.revoked_list)
            except RevokedListError as exc:
                raise ConfigError(str(exc)) from exc
        self._last_time_version = 0
        self.report_hooks: list[Callable[[ReportedState], None]] = []
        """Called with every report a tablet sends (the rollouts watch them)."""
        self.policy = PolicyPublisher(self)
        self.requests = RequestDesk(self)

    @property
    def ttl_ms(self) -> int:
        return self.config.desired_ttl_s * 1000

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until cancelled; on the way out, flush what tablets reported."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(
                    run_reconnecting(self._session, backoff_max_s=self.config.broker.backoff_max_s,
                                     name=f"gateway {self.config.wing}")
                )
                group.create_task(self._beat_time())
                group.create_task(self._reissue_loop())
                group.create_task(self._flush_loop())
                group.create_task(self.policy.run())
        finally:
            for task in list(self._tasks):
                task.cancel()
            self.flush()

    def close(self) -> None:
        self.flush()
        self.store.close()

    async def _session(self) -> None:
        client = make_client(
            self.config.broker,
            f"gateway-{self.config.wing}",
            persistent_session_s=SESSION_EXPIRY_S,
        )
        async with client:
            await client.subscribe(
                [
                    (topics.tablet_filter(TabletChannel.REPORTED), 1),
                    (topics.tablet_filter(TabletChannel.STATUS), 1),
                    (topics.tablet_filter(TabletChannel.ACK), 1),
                    (topics.tablet_filter(TabletChannel.TELEMETRY), 0),
                    (topics.tablet_filter(TabletChannel.REQUEST), 1),
                ]
            )
            self._client = client
            self.connected.set()
            log.info("connected to broker %s:%s", self.config.broker.host,
                     self.config.broker.port)
            try:
                # The broker may have lost every retained document: give them all back.
                self._spawn(self._republish_all())
                async for message in client.messages:
                    self._on_message(message)
            finally:
                self._client = None
                self.connected.clear()

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _publish(self, topic: str, payload: bytes, *, retain: bool, qos: int = 1) -> bool:
        client = self._client
        if client is None:
            return False
        try:
            await client.publish(topic, payload, qos=qos, retain=retain, timeout=10)
        except aiomqtt.MqttError as exc:
            # Not lost: the record is in SQLite and goes out again on reconnect or birth.
            log.warning("publish to %s failed: %s", topic, exc)
            return False
        return True

    async def _publish_desired(self, device: str) -> None:
        stored = self.desired.get(device)
        if stored is not None:
            await self._publish(
                topics.tablet(device, TabletChannel.DESIRED), stored.envelope, retain=True
            )

    async def _publish_lockdown(self) -> None:
        if self.lockdown is not None:
            self._lockdown_published_at = asyncio.get_running_loop().time()
            await self._publish(topics.WING_LOCKDOWN, self.lockdown.envelope, retain=True)

    async def _republish_all(self) -> None:
        await asyncio.gather(
            self._publish_lockdown(),
            self.policy.publish(),
            self.requests.republish(),
            *(self._publish_desired(d) for d in self.desired if d in self.tablets),
        )

    async def _beat_time(self) -> None:
        while True:
            now = self.clock()
            version = max(now, self._last_time_version + 1)
            self._last_time_version = version
            beacon = SignedTime(
                audience=wing_audience(self.config.wing),
                version=version,
                issued=now,
                expires=now + int(self.config.time_beacon_s * 3000),
            )
            await self._publish(topics.WING_TIME, seal(beacon, self._key), retain=False, qos=0)
            await asyncio.sleep(self.config.time_beacon_s)

    async def _reissue_loop(self) -> None:
        interval = max(0.5, min(60.0, self.config.reissue_margin_s / 4))
        while True:
            await self.reissue_expiring()
            await asyncio.sleep(interval)

    async def reissue_expiring(self) -> int:
        """Re-issue, as new versions, the documents that expire within the margin."""
        now = self.clock()
        margin = self.config.reissue_margin_s * 1000
        renewed: list[StoredDocument[DesiredState]] = []
        for stored in self.desired.values():
            if needs_reissue(stored.document.expires, now, margin):
                doc = reissued(stored.document, now, self.ttl_ms,
                               reported=self._reported_desired(_device_of(stored.document)))
                renewed.append(StoredDocument(doc, seal(doc, self._key)))
        lockdown: StoredDocument[WingLockdown] | None = None
        if self.lockdown is not None and needs_reissue(
            self.lockdown.document.expires, now, margin
        ):
            wing_doc = reissued(self.lockdown.document, now, self.ttl_ms,
                                reported=self._reported_lockdowns())
            lockdown = StoredDocument(wing_doc, seal(wing_doc, self._key))
        if not renewed and lockdown is None:
            return 0
        self.store.put_desired(renewed)
        if lockdown is not None:
            self.store.put_lockdown(lockdown)
            self.lockdown = lockdown
        for stored in renewed:
            self.desired[_device_of(stored.document)] = stored
        self.store.audit(now, "gateway", "reissue", f"wing:{self.config.wing}", {
            "devices": sorted(_device_of(s.document) for s in renewed),
            "lockdown": lockdown is not None,
        })
        await asyncio.gather(
            *(self._publish_desired(_device_of(s.document)) for s in renewed),
            *([self._publish_lockdown()] if lockdown is not None else []),
        )
        return len(renewed) + (lockdown is not None)

    # -- what tablets send -----------------------------------------------------------------

    def _on_message(self, message: aiomqtt.Message) -> None:
        try:
            self._handle(message)
        except Exception:
            # A bug must not take the wing's gateway down; it is logged loudly instead.
            log.exception("error handling a message on %s", message.topic)

    def _handle(self, message: aiomqtt.Message) -> None:
        topic = topics.parse_tablet(str(message.topic))
        if topic is None:
            return
        device, channel = topic.device_id, topic.channel
        payload = message.payload if isinstance(message.payload, bytes | bytearray) else b""
        now = self.clock()
        if device not in self.tablets:
            admitted = self._unknown_tablets.admit(device, now)
            if admitted is not None:
                self.store.audit(now, f"tablet:{device}", "unknown_tablet", f"device:{device}", {
                    "topic": str(message.topic), "suppressed": admitted})
            return
        if self._revoked is not None and self._revoked.is_revoked(device):
            admitted = self._revoked_tablets.admit(device, now)
            if admitted is not None:
                self.store.audit(now, f"tablet:{device}", "revoked_tablet", f"device:{device}", {
                    "topic": str(message.topic), "suppressed": admitted})
            return
        if channel is TabletChannel.REPORTED:
            report = self._parse(device, channel, bytes(payload), ReportedState, now)
            if report is None:
                return
            if report.device != device:
                self._invalid(device, channel, f"mis-addressed: names {report.device!r}", now)
                return
            self._on_reported(report, bool(message.retain), now)
        elif channel is TabletChannel.STATUS:
            status = self._parse(device, channel, bytes(payload), Status, now)
            if status is not None:
                self._on_status(device, status, bool(message.retain), now)
        elif channel is TabletChannel.ACK:
            ack = self._parse(device, channel, bytes(payload), Ack, now)
            if ack is not None:
                self._touch(device, now)
                if ack.state == "rejected":
                    self._on_refusal(device, ack, now)
                self.requests.on_ack(device, ack)
        elif channel is TabletChannel.REQUEST:
            self.requests.on_request(device, bytes(payload), now)
        elif channel is TabletChannel.TELEMETRY:
            if len(payload) > TELEMETRY_MAX_BYTES:
                self._invalid(device, channel, f"over_size_cap: {len(payload)} bytes", now)
                return
            try:
                ok = isinstance(json.loads(payload), dict)
            except (ValueError, RecursionError):  # RecursionError: nested deeper than parsable
                ok = False
            if not ok:
                self._invalid(device, channel, "malformed: not a JSON object", now)
                return
            self._touch(device, now)
        else:
            self._invalid(device, channel, "tablets do not publish on this channel", now)

    def _on_refusal(self, device: str, ack: Ack, now: int) -> None:
        """A tablet refused a document we sent: audited, and any staff waiting on it told."""
        suppressed = self._bad_messages.admit((device, "refused", ack.ref), now)
        if suppressed is not None:
            self.store.audit(now, f"tablet:{device}", "tablet_refused", f"device:{device}",
                             {"ref": ack.ref, "reason": ack.reason, "suppressed": suppressed})
        for waiter in self._waiters:
            waiter.refused(device, ack.ref, ack.reason)

    def _parse(
        self, device: str, channel: TabletChannel, payload: bytes, model: Any, now: int
    ) -> Any:
        if len(payload) > model.MAX_BYTES:
            self._invalid(
                device, channel, f"over_size_cap: {len(payload)} bytes, cap {model.MAX_BYTES}", now
            )
            return None
        try:
            return model.model_validate_json(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "document"
            self._invalid(device, channel, f"malformed: {where}: {first['msg']}", now)
            return None

    def _invalid(self, device: str, channel: TabletChannel, reason: str, now: int) -> None:
        log.warning("refused %s from %s: %s", channel.value, device, reason)
        suppressed = self._bad_messages.admit((device, channel, reason.split(":")[0]), now)
        if suppressed is not None:
            self.store.audit(now, f"tablet:{device}", "invalid_message", f"device:{device}", {
                "channel": channel.value, "reason": reason, "suppressed": suppressed})

    def _touch(self, device: str, now: int) -> None:
        current = self.statuses.get(device)
        if current is not None:
            self.statuses[device] = TabletStatus(current.state, current.boot_id, now)

    def _on_reported(self, report: ReportedState, retained: bool, now: int) -> None:
        self.reported[report.device] = report
        self._dirty_reported[report.device] = (report, now)
        if not retained:  # a retained copy replayed to us says nothing about the tablet now
            self._touch(report.device, now)
        self._dirty.set()
        self.policy.on_reported(report)
        for waiter in self._waiters:
            waiter.applied(report)
        for hook in self.report_hooks:
            hook(report)

    def _on_status(self, device: str, status: Status, retained: bool, now: int) -> None:
        known = self.statuses.get(device)
        seen = now
        if retained and known is not None and (known.state, known.boot_id) == (
            status.state, status.boot_id
        ):
            seen = known.last_seen  # the same status replayed: the tablet was not seen now
        self.statuses[device] = TabletStatus(status.state, status.boot_id, seen)
        self._dirty_status[device] = (status, seen)
        self._dirty.set()
        # A retained `online` is an old birth replayed on our own subscribe, not a new one (we
        # re-publish everything on connect anyway).
        if status.state == "online" and not retained:
            self._on_birth(device, now)

    def _on_birth(self, device: str, now: int) -> None:
        """Reconcile at once, or once at the end of the tablet's birth spacing (a tablet
        reconnecting in a loop gets one reconcile per interval, never one per connect)."""
        delay = self._births.request(device, now)
        if delay == 0:
            self._reconcile(device)
        elif delay is not None:
            log.info("%s reconnected within %d ms: reconcile deferred by %d ms",
                     device, BIRTH_SPACING_MS, delay)

            async def deferred() -> None:
                await asyncio.sleep(delay / 1000)
                self._births.ran(device, self.clock())
                self._reconcile(device)

            self._spawn(deferred())

    def _reconcile(self, device: str) -> None:
        """A tablet was born: give it what it has not reported as applied."""
        self.policy.on_birth(device)
        self.requests.on_birth(device)
        report = self.reported.get(device)
        stored = self.desired.get(device)
        if stored is not None and is_behind(
            stored.document.version, report.desired_version if report else None
        ):
            self._spawn(self._publish_desired(device))
        if self.lockdown is not None and is_behind(
            self.lockdown.document.version, report.lockdown_version if report else None
        ):
            self._schedule_lockdown_republish()

    def _schedule_lockdown_republish(self) -> None:
        """One `wing/lockdown` re-publish per coalescing window, however many tablets are born."""
        if self._lockdown_republish is not None and not self._lockdown_republish.done():
            return
        loop = asyncio.get_running_loop()
        delay = max(
            0.0, self._lockdown_published_at + self.config.lockdown_coalesce_s - loop.time()
        )

        async def republish() -> None:
            await asyncio.sleep(delay)
            await self._publish_lockdown()

        self._lockdown_republish = loop.create_task(republish())
        self._tasks.add(self._lockdown_republish)
        self._lockdown_republish.add_done_callback(self._tasks.discard)

    async def _flush_loop(self) -> None:
        while True:
            await self._dirty.wait()
            await asyncio.sleep(FLUSH_GATHER_S)
            self.flush()

    def flush(self) -> None:
        """Write what tablets reported since the last flush, in one transaction."""
        self._dirty.clear()
        if not self._dirty_reported and not self._dirty_status:
            return
        reported, self._dirty_reported = self._dirty_reported, {}
        statuses, self._dirty_status = self._dirty_status, {}
        self.store.put_observations(
            reported.values(), [(d, s, seen) for d, (s, seen) in statuses.items()]
        )

    # -- staff actions ---------------------------------------------------------------------

    def resolve(self, selector: Selector) -> list[str]:
        """The tablets a selector names; TargetError if it names none or an unknown one."""
        if selector.wing:
            return sorted(self.tablets)
        if selector.cell is not None:
            found = sorted(t.id for t in self.tablets.values() if t.cell == selector.cell)
            if not found:
                raise TargetError(f"no tablets in cell {selector.cell!r}")
            return found
        if selector.landing is not None:
            found = sorted(t.id for t in self.tablets.values() if t.landing == selector.landing)
            if not found:
                raise TargetError(f"no tablets on landing {selector.landing!r}")
            return found
        if not selector.devices:
            raise InputError("name the tablets to lock: devices, cell, landing or wing")
        unknown = [d for d in selector.devices if d not in self.tablets]
        if unknown:
            raise TargetError("unknown tablet" + ("s " if len(unknown) > 1 else " ")
                              + ", ".join(unknown))
        return sorted(set(selector.devices))

    async def lock(self, selector: Selector, request: LockRequest, wait_s: float = 0.0
                   ) -> LockOutcome:
        """Sign, record and publish the new lock state, then wait up to `wait_s` for the
        targets to report it applied."""
        action = "lock" if request.locked else "unlock"
        actor = f"staff:{request.by}"
        target = selector.describe(self.config.wing)
        now = self.clock()
        try:
            if not request.reason.strip():
                raise InputError("a reason is required")
            devices = self.resolve(selector)
        except (InputError, TargetError) as exc:
            self.store.audit(now, actor, f"{action}_refused", target,
                             {"reason": request.reason, "error": str(exc)})
            raise
        if selector.wing:
            doc = next_lockdown(
                self.lockdown.document if self.lockdown else None,
                self.config.wing, request, now, self.ttl_ms,
                reported=self._reported_lockdowns(),
            )
            stored = StoredDocument(doc, seal(doc, self._key))
            self.store.put_lockdown(stored)
            self.lockdown = stored
            version = doc.version
            waiter = _Waiter("lockdown", dict.fromkeys(devices, version), set(devices))
        else:
            docs = []
            for device in devices:
                current = self.desired.get(device)
                docs.append(next_desired(
                    current.document if current else None,
                    device, request, now, self.ttl_ms,
                    reported=self._reported_desired(device),
                ))
            records = [StoredDocument(d, seal(d, self._key)) for d in docs]
            self.store.put_desired(records)
            for record in records:
                self.desired[_device_of(record.document)] = record
            version = max(d.version for d in docs)
            waiter = _Waiter("desired", {_device_of(d): d.version for d in docs}, set(devices))
        self.store.audit(now, actor, action, target, {
            "reason": request.reason, "version": version, "devices": devices})
        self._check_waiter(waiter)
        if waiter.pending:
            self._waiters.append(waiter)
        try:
            if selector.wing:
                await self._publish_lockdown()
            else:
                await asyncio.gather(*(self._publish_desired(d) for d in devices))
            if wait_s > 0 and waiter.pending:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter.done.wait(), wait_s)
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)
        pending = sorted(waiter.pending)
        return LockOutcome(
            targets=devices,
            version=version,
            confirmed=[d for d in devices if d not in waiter.pending],
            pending=pending,
            rejected=dict(sorted(waiter.rejected.items())),
        )

    def _check_waiter(self, waiter: _Waiter) -> None:
        for device in list(waiter.pending):
            report = self.reported.get(device)
            if report is not None:
                waiter.applied(report)

    async def set_update(self, devices: list[str], update: UpdateTarget | None, by: str
                         ) -> dict[str, int]:
        """Sign, record and publish each tablet's next desired state with `update` as its update
        target (None withdraws it), the lock and profile carried over. Returns the versions."""
        now = self.clock()
        unknown = [d for d in devices if d not in self.tablets]
        if unknown:
            raise TargetError("unknown tablets " + ", ".join(unknown))
        docs = []
        for device in devices:
            docs.append(self.revision(device, now).model_copy(update={"update": update}))
        records = [StoredDocument(d, seal(d, self._key)) for d in docs]
        self.store.put_desired(records)
        for record in records:
            self.desired[_device_of(record.document)] = record
        self.store.audit(now, f"staff:{by}", "update" if update else "update_withdrawn",
                         f"devices:{','.join(devices[:20])}", {
                             "target": update.target if update else None,
                             "version": update.version if update else None,
                             "rollout": update.rollout if update else None,
                             "devices": devices})
        await asyncio.gather(*(self._publish_desired(d) for d in devices))
        return {_device_of(d): d.version for d in docs}

    def register(self, tablet: Tablet, by: str) -> bool:
        now = self.clock()
        changed = self.store.add_tablet(tablet, now)
        if changed:
            self.store.audit(now, f"staff:{by}", "register", f"device:{tablet.id}",
                             {"cell": tablet.cell, "landing": tablet.landing})
            self.tablets[tablet.id] = tablet
            if tablet.id not in self.desired:
                self._issue_first_desired([tablet.id], now)
            self._spawn(self._publish_desired(tablet.id))
        return changed

    def _reported_desired(self, device: str) -> int:
        report = self.reported.get(device)
        return report.desired_version if report else 0

    def _reported_lockdowns(self) -> list[int]:
        return [r.lockdown_version for d, r in self.reported.items() if d in self.tablets]

    def revision(self, device: str, now: int) -> DesiredState:
        """The tablet's next desired state with its content carried over, for a caller to revise
        (profile, update target): above both our last version and what the tablet reports."""
        current = self.desired.get(device)
        if current is None:
            return first_desired(device, now, self.ttl_ms,
                                 reported=self._reported_desired(device))
        return reissued(current.document, now, self.ttl_ms,
                        reported=self._reported_desired(device))

    def _issue_first_desired(self, devices: list[str], now: int) -> None:
        """Every registered tablet has a desired state: until it does, it stays locked."""
        if not devices:
            return
        records = [
            StoredDocument(doc, seal(doc, self._key))
            for doc in (first_desired(device, now, self.ttl_ms,
                                      reported=self._reported_desired(device))
                        for device in devices)
        ]
        self.store.put_desired(records)
        for record in records:
            self.desired[_device_of(record.document)] = record
        self.store.audit(now, "system", "first_desired", f"wing:{self.config.wing}",
                         {"devices": devices})

    # -- views -----------------------------------------------------------------------------

    def tablet_views(self) -> list[dict[str, Any]]:
        lockdown = self.lockdown.document if self.lockdown else None
        views = []
        for tablet in sorted(self.tablets.values(), key=lambda t: t.id):
            status = self.statuses.get(tablet.id)
            report = self.reported.get(tablet.id)
            desired = self.desired.get(tablet.id)
            desired_version = desired.document.version if desired else 0
            lockdown_version = lockdown.version if lockdown else 0
            views.append({
                "id": tablet.id,
                "cell": tablet.cell,
                "landing": tablet.landing,
                "online": bool(status and status.state == "online"),
                "boot_id": status.boot_id if status else None,
                "last_seen": status.last_seen if status else None,
                "locked": report.lock.locked if report else None,
                "lock": report.lock.model_dump() if report else None,
                "desired": {
                    "version": desired_version,
                    "locked": desired.document.lock.locked if desired else False,
                    "reported_version": report.desired_version if report else None,
                },
                "lockdown": {
                    "version": lockdown_version,
                    "locked": lockdown.lock.locked if lockdown else False,
                    "reported_version": report.lockdown_version if report else None,
                },
                "in_sync": _applied(desired_version, report.desired_version if report else None)
                and _applied(lockdown_version, report.lockdown_version if report else None),
            })
        return views

    def audit_entries(self, limit: int | None) -> list[AuditEntry]:
        return self.store.audit_entries(limit)

    def verify_audit(self) -> ChainCheck:
        return self.store.verify_audit()


def _applied(wanted: int, reported: int | None) -> bool:
    """Version 0 means nothing was ever issued: there is nothing to apply."""
    return wanted == 0 or not is_behind(wanted, reported)


def _device_of(document: DesiredState | WingLockdown) -> str:
    return document.audience.split(":", 1)[1]
