"""The agent service: one tablet's MQTT session, its durable state and the shell's socket.

The per-message path is the lock latency path (DESIGN §5): verify the envelope (`wire.envelope`),
persist it (one transaction, off the event loop so an fsync never stalls other agents), push the
new state to the shell, publish `reported`. Everything an `Agent` owns hangs off the instance:
many run in one event loop (benchmark, demo), and cancelling `run()` stops one cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import aiomqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import ValidationError

from agent.apps import AppCheck, verify_app
from agent.clock import (
    JUMP_TOLERANCE_MS,
    MonotonicSource,
    TrustedClock,
    WallSource,
    boottime,
)
from agent.config import AgentConfig
from agent.localapi import LocalApi
from agent.outbox import Outbox
from agent.policy import PolicyEnforcer
from agent.policy_view import without_builds
from agent.requests import RequestDesk
from agent.store import AuditRow, Store, StoredDocument, StoreError
from agent.updates.app_plan import AppState
from agent.updates.app_service import AppInstallService, build_app_installer
from agent.updates.service import HealthCheck, UpdateService
from agent.view import DEFAULT_PROFILE, reported_state, shell_state
from common.config import ConfigError
from common.mqtt import make_client, run_reconnecting
from wire import topics
from wire.documents import (
    Ack,
    DesiredState,
    SignedBody,
    SignedTime,
    Status,
    WingLockdown,
    device_audience,
    wing_audience,
)
from wire.envelope import (
    Accepted,
    AlreadyApplied,
    Refused,
    key_id,
    open_envelope,
    public_key_from_pem,
)
from wire.localapi import (
    LaunchReply,
    LaunchRequest,
    RequestSaved,
    ShellState,
    SubmitRequest,
    failsafe_state,
)
from wire.policy import WingPolicy

log = logging.getLogger(__name__)

try:
    AGENT_VERSION = metadata.version("cellbridge")
except metadata.PackageNotFoundError:  # running from a source tree
    AGENT_VERSION = "0+unknown"

Clock = Callable[[], int]
"""Milliseconds since the epoch: the time expiry is checked against."""

TIME_STORE_INTERVAL_MS = 300_000
"""How much newer a signed time must be than the stored one to be written to the store."""


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def load_trusted_keys(config: AgentConfig) -> dict[str, Ed25519PublicKey]:
    """The gateway keys by key id; raises ConfigError naming the file that is not one."""
    keys: dict[str, Ed25519PublicKey] = {}
    for path in config.gateway_keys:
        try:
            key = public_key_from_pem(path.read_bytes())
        except OSError as exc:
            raise ConfigError(f"cannot read gateway key {path}: {exc.strerror}") from exc
        except ValueError as exc:
            raise ConfigError(f"{path}: not an Ed25519 public key PEM ({exc})") from exc
        keys[key_id(key)] = key
    return keys


def _raise_if_cancelling() -> None:
    """Python 3.11's `wait_for` (inside aiomqtt's publish) can swallow a cancel that lands just as
    the PUBACK arrives; without this the agent would wait for the next message before stopping."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@dataclass(frozen=True, slots=True)
class _Route:
    """How one signed topic is checked and applied."""

    key: str
    """Its row in the store."""
    doc_type: type[SignedBody]
    audience: str
    ack_prefix: str | None
    """`Ack.ref` prefix for refusals; None for documents that are not acknowledged (time)."""


class Agent:
    """One tablet's agent. `await run()` until cancelled; `state` is what the shell sees."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        clock: Clock = wall_clock_ms,
        monotonic: MonotonicSource = boottime,
        wall: WallSource = time.time,
        trusted_keys: Mapping[str, Ed25519PublicKey] | None = None,
    ) -> None:
        """`clock` is the system clock in ms (document expiry before time is trusted); the
        trusted clock runs on `monotonic` and watches `wall` for jumps (agent.clock)."""
        self.config = config
        self._now_ms = clock
        self._keys = dict(trusted_keys) if trusted_keys is not None else load_trusted_keys(config)
        self.boot_id = uuid.uuid4().hex
        """Identifies this run of the agent in `status` and `reported`."""
        device = config.device_id
        self._topic_status = topics.tablet(device, topics.TabletChannel.STATUS)
        self._topic_reported = topics.tablet(device, topics.TabletChannel.REPORTED)
        self._topic_ack = topics.tablet(device, topics.TabletChannel.ACK)
        self._topic_desired = topics.tablet(device, topics.TabletChannel.DESIRED)
        self._topic_cmd = topics.tablet(device, topics.TabletChannel.CMD)
        wing = wing_audience(config.wing)
        self._routes = {
            self._topic_desired: _Route(
                "desired", DesiredState, device_audience(device), "desired"
            ),
            topics.WING_LOCKDOWN: _Route("lockdown", WingLockdown, wing, "lockdown"),
            topics.WING_TIME: _Route("time", SignedTime, wing, None),
            topics.WING_POLICY: _Route("policy", WingPolicy, wing, "policy"),
        }
        self._trusted = TrustedClock(monotonic=monotonic, wall=wall)
        self.policy = PolicyEnforcer(
            wing=config.wing, apps_dir=config.apps_path, trusted_keys=self._keys,
            clock=self._trusted,
        )
        self._store: Store | None = None
        self._applied: dict[str, StoredDocument] = {}
        self._stored_versions: dict[str, int] = {}
        self._documents: dict[str, Any] = {}
        self._failure: str | None = "agent starting"
        self._connected = False
        self._client: aiomqtt.Client | None = None
        self._state: ShellState = failsafe_state(device, self._failure)
        self._api = LocalApi(
            config.socket, config.socket_mode, lambda: self._state, launch=self._launch,
            submit=self._submit,
        )
        self._requests: RequestDesk | None = None
        self._listeners: list[Callable[[ShellState], None]] = []
        self.ready = asyncio.Event()
        """Set once the state is loaded (or failed closed) and the shell's socket listens."""
        self._updates: UpdateService | None = None
        self._update_tasks: set[asyncio.Task[None]] = set()
        self._update_audited: tuple[str, str, str, str] | None = None
        if config.updates is not None:
            shell_needed = config.updates.health_needs_shell
            self._updates = UpdateService(
                config.updates,
                now=self._trusted_datetime,
                health=HealthCheck(lambda: self._connected,
                                   lambda: not shell_needed or self._api.watchers > 0,
                                   config.updates.health_timeout_s),
                on_change=self._on_update_change,
            )
        self._app_installs: AppInstallService | None = None
        self._app_audited: dict[str, tuple[str, str, str]] = {}
        if config.updates is not None and self._updates is not None:
            self._app_installs = AppInstallService(
                build_app_installer(config.updates, config.apps_path, self._updates.engine,
                                    now=self._trusted_datetime, verify=self._verify_app),
                on_change=self._on_app_install_change,
            )

    # -- what the agent knows -------------------------------------------------------------

    @property
    def state(self) -> ShellState:
        return self._state

    @property
    def connected(self) -> bool:
        return self._connected

    @property
    def last_signed_time(self) -> SignedTime | None:
        """The newest verified `wing/time` (the trusted clock is built on it)."""
        document = self._documents.get("time")
        return document if isinstance(document, SignedTime) else None

    @property
    def desired(self) -> DesiredState | None:
        document = self._documents.get("desired")
        return document if isinstance(document, DesiredState) else None

    @property
    def lockdown(self) -> WingLockdown | None:
        document = self._documents.get("lockdown")
        return document if isinstance(document, WingLockdown) else None

    def add_listener(self, callback: Callable[[ShellState], None]) -> None:
        """Call `callback` with every new state (as the shell gets it), e.g. to tell systemd."""
        self._listeners.append(callback)

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until cancelled. Never returns on its own; bad input never ends it."""
        await self._load()
        policy_loop = asyncio.create_task(self._policy_loop())
        try:
            # Only once loaded: a socket that answers holds the real state (an absent one means
            # locked to the shell anyway).
            await self._api.start()
            self.ready.set()
            async with asyncio.TaskGroup() as tasks:
                if self._updates is not None:
                    self._updates.desired_changed(self.desired)
                    tasks.create_task(self._updates.run())
                if self._app_installs is not None:
                    tasks.create_task(self._app_installs.run())
                await run_reconnecting(
                    self._session,
                    backoff_max_s=self.config.broker.backoff_max_s,
                    name=self.config.device_id,
                )
        finally:
            policy_loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await policy_loop
            await self._api.close()
            if self._requests is not None:
                await self._requests.close()
            store, self._store = self._store, None
            if store is not None:
                await asyncio.to_thread(store.close)

    async def _load(self) -> None:
        """Open the store (in a worker: opening syncs to disk) and rebuild what was applied."""
        try:
            store = await asyncio.to_thread(Store, self.config.store_path)
        except StoreError as exc:
            self._fail(f"state store unreadable: {exc}")
            return
        try:
            applied = store.applied()
            documents = {}
            for route in self._routes.values():
                if route.key in applied:
                    body = applied[route.key].body()
                    documents[route.key] = route.doc_type.model_validate_json(body)
        except (StoreError, ValidationError, ValueError) as exc:
            store.close()
            self._fail(f"state store unreadable: {exc}")
            return
        self._store, self._applied, self._documents = store, applied, documents
        self._stored_versions = {key: row.version for key, row in applied.items()}
        await self._open_requests()
        self._policy_documents()
        self._failure = None
        self._refresh()

    def _fail(self, reason: str) -> None:
        """The agent can no longer trust its own state: locked until someone repairs it."""
        log.error("%s: failing closed: %s", self.config.device_id, reason)
        self._failure = reason[:200]
        self._refresh()

    def _refresh(self) -> None:
        try:
            state = self._compose_state()
        except Exception as exc:  # whatever went wrong, the shell shows the lock (fail closed)
            log.exception("%s: cannot compute the state; failing closed", self.config.device_id)
            state = failsafe_state(
                self.config.device_id, f"internal error: {type(exc).__name__}"
            ).model_copy(update={"connected": self._connected})
        if state.model_copy(update={"trusted_time": None}) != self._state.model_copy(
            update={"trusted_time": None}
        ):
            self._state = state
            self._api.publish(state)
            for callback in self._listeners:
                try:
                    callback(state)
                except Exception:  # an observer's bug must not stop enforcement
                    log.exception("%s: state listener failed", self.config.device_id)

    def _compose_state(self) -> ShellState:
        """The shell's state from the lock, the update engine, the policy and the requests."""
        if self._failure is not None:
            state = failsafe_state(self.config.device_id, self._failure).model_copy(
                update={"connected": self._connected}
            )
        else:
            state = shell_state(
                self.config.device_id, self.desired, self.lockdown, connected=self._connected
            )
        if self._updates is not None:
            state = state.model_copy(update={"update": self._updates.view()})
        view = self.policy.view(self.profile, locked=state.locked)
        apps = view.apps
        if self._app_installs is not None:
            apps = without_builds(apps, self._app_installs.not_installed())
        return state.model_copy(
            update={"curfew": view.curfew, "apps": apps, "trusted_time": view.trusted_time,
                    "requests": self._requests.views if self._requests is not None else ()}
        )

    def _on_update_change(self) -> None:
        """The update engine moved (on the event loop): tell the shell and the gateway, and
        keep an audit row of every update that was refused, failed or rolled back."""
        self._refresh()
        loop = asyncio.get_running_loop()
        if self._client is not None:
            task = loop.create_task(self._publish_reported())
            self._update_tasks.add(task)
            task.add_done_callback(self._update_tasks.discard)
        assert self._updates is not None
        report = self._updates.report()
        outcome = (report.state, report.target, report.version, report.error)
        if report.state in ("failed", "rolled_back") and outcome != self._update_audited:
            self._update_audited = outcome
            row = AuditRow(self._now_ms(), report.state, "update",
                           f"{report.target} {report.version}".strip(), report.error[:500])
            store = self._store
            if store is not None:
                audit = loop.create_task(asyncio.to_thread(store.audit, row))
                self._update_tasks.add(audit)
                audit.add_done_callback(self._update_tasks.discard)

    def _verify_app(self, apps_root: Path, app: str, policy: WingPolicy) -> AppCheck:
        """The launch check (`verify_app`), for the app installer: on an installed build and on
        a staged one before it may replace it."""
        return verify_app(apps_root, app, policy=policy, trusted_keys=self._keys,
                          audience=wing_audience(self.config.wing),
                          now_ms=self._trusted.floor_ms())

    def _on_app_install_change(self) -> None:
        """An app install moved (on the event loop): tell the gateway, and audit each failed or
        refused install once."""
        assert self._app_installs is not None
        self._refresh()  # a build that arrived (or left) changes what the shell may offer
        loop = asyncio.get_running_loop()
        if self._client is not None:
            task = loop.create_task(self._publish_reported())
            self._update_tasks.add(task)
            task.add_done_callback(self._update_tasks.discard)
        for app, status in self._app_installs.statuses().items():
            if status.state not in (AppState.FAILED, AppState.REFUSED):
                continue
            outcome = (status.version, status.state.value, status.error)
            if self._app_audited.get(app) == outcome:
                continue
            self._app_audited[app] = outcome
            audit = loop.create_task(self._audit_local(
                status.state.value, f"app/{app}", "app_install", f"{status.version}: "
                f"{status.error}"[:500]))
            self._update_tasks.add(audit)
            audit.add_done_callback(self._update_tasks.discard)

    # -- MQTT -----------------------------------------------------------------------------

    def _status(self, state: Literal["online", "offline"]) -> bytes:
        document = Status(state=state, boot_id=self.boot_id, at=self._now_ms())
        return document.model_dump_json().encode()

    async def _session(self) -> None:
        will = aiomqtt.Will(self._topic_status, self._status("offline"), qos=1, retain=True)
        client = make_client(
            self.config.broker,
            self.config.device_id,
            persistent_session_s=self.config.session_expiry_s,
            will=will,
        )
        async with client:
            await client.subscribe(
                [(self._topic_desired, 1), (self._topic_cmd, 1), (topics.WING_ALL, 1),
                 (topics.tablet(self.config.device_id, topics.TabletChannel.REPLY), 1)]
            )
            await client.publish(self._topic_status, self._status("online"), qos=1, retain=True)
            self._client = client
            try:
                await self._publish_reported()
                self._connected = True
                if self._requests is not None:
                    self._requests.connected(client)
                self._refresh()
                _raise_if_cancelling()
                async for message in client.messages:
                    await self._on_message(str(message.topic), message.payload)
                    _raise_if_cancelling()
            except asyncio.CancelledError:
                # Stopping on purpose: say so, since a clean disconnect sends no will.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(
                        client.publish(
                            self._topic_status, self._status("offline"), qos=1, retain=True
                        ),
                        1.0,
                    )
                raise
            finally:
                self._client = None
                self._connected = False
                if self._requests is not None:
                    self._requests.connected(None)
                self._refresh()

    async def _on_message(self, topic: str, payload: object) -> None:
        raw = bytes(payload) if isinstance(payload, bytes | bytearray) else b""
        try:
            route = self._routes.get(topic)
            if route is not None:
                await self._on_document(topic, route, raw)
            elif self._requests is not None and topic == self._requests.topic_reply:
                await self._requests.on_reply(raw)
            elif topic == self._topic_cmd:
                await self._refuse(topic, "cmd", None, "unsupported", "no jobs are supported yet")
            else:
                log.debug("%s: ignoring %s", self.config.device_id, topic)
        except aiomqtt.MqttError:
            raise
        except Exception:  # a bug must not take the tablet down; the state stays as it was
            log.exception("%s: error handling %s", self.config.device_id, topic)

    async def _on_document(self, topic: str, route: _Route, raw: bytes) -> None:
        if self._store is None:
            await self._refuse(
                topic, route.ack_prefix, None, "store_unavailable", self._failure or ""
            )
            return
        stored = self._applied.get(route.key)
        verdict = open_envelope(
            raw,
            route.doc_type,
            trusted_keys=self._keys,
            audience=route.audience,
            now_ms=self._expiry_clock(route.key),
            applied=stored.mark if stored is not None else None,
        )
        if isinstance(verdict, Accepted):
            await self._apply(topic, route, verdict, raw)
        elif isinstance(verdict, Refused):
            version = str(verdict.version) if verdict.version is not None else "?"
            await self._refuse(
                topic, route.ack_prefix, version, verdict.reason.value, verdict.detail
            )
        else:
            assert isinstance(verdict, AlreadyApplied)

    async def _apply(self, topic: str, route: _Route, verdict: Accepted[Any], raw: bytes) -> None:
        document = verdict.document
        row = StoredDocument(route.key, document.version, verdict.digest, raw)
        audit = None
        if route.ack_prefix is not None:
            audit = AuditRow(self._now_ms(), "applied", topic, "", f"version {document.version}")
        store = self._store
        assert store is not None
        if self._worth_storing(route.key, document.version):
            try:
                await asyncio.to_thread(store.apply, row, audit)
            except StoreError as exc:
                self._fail(f"cannot write state: {exc}")
                await self._publish_reported()
                return
            self._stored_versions[route.key] = document.version
        self._applied[route.key] = row
        self._documents[route.key] = document
        if self._updates is not None and isinstance(document, DesiredState):
            self._updates.desired_changed(document)
        self._policy_documents(route.key)
        if route.ack_prefix is not None:
            self._refresh()
            await self._publish_reported()

    def _worth_storing(self, key: str, version: int) -> bool:
        """Every document is stored before it takes effect, except the signed time: the store
        keeps it as a floor (any earlier trusted time will do), so it is written at most every
        `TIME_STORE_INTERVAL_MS` — not a synced flash write every beacon on every tablet. In
        memory every beacon counts (the clock, and the replay mark)."""
        if key != "time":
            return True
        return version - self._stored_versions.get(key, 0) >= TIME_STORE_INTERVAL_MS

    async def _refuse(
        self, topic: str, ack_prefix: str | None, version: str | None, reason: str, detail: str
    ) -> None:
        log.warning("%s: refused %s: %s: %s", self.config.device_id, topic, reason, detail)
        store = self._store
        if store is not None:
            try:
                await asyncio.to_thread(
                    store.audit, AuditRow(self._now_ms(), "refused", topic, reason, detail)
                )
            except StoreError as exc:
                self._fail(f"cannot write audit: {exc}")
        if ack_prefix is not None and self._client is not None:
            ack = Ack(
                ref=f"{ack_prefix}/{version or '?'}",
                state="rejected",
                reason=f"{reason}: {detail}"[:500],
                at=self._now_ms(),
            )
            await self._client.publish(self._topic_ack, ack.model_dump_json().encode(), qos=1)

    async def _publish_reported(self) -> None:
        if self._client is None:
            return
        desired, lockdown = (None, None) if self._failure else (self.desired, self.lockdown)
        report = reported_state(
            self._state,
            desired,
            lockdown,
            at=self._now_ms(),
            boot_id=self.boot_id,
            agent_version=AGENT_VERSION,
        ).model_copy(
            update={"policy_hash": self.policy.policy_hash, "curfew": self._state.curfew.state}
        )
        if self._updates is not None:
            report = report.model_copy(update={"update": self._updates.report()})
        if self._app_installs is not None:
            report = report.model_copy(update={"apps": self._app_installs.reports()})
        await self._client.publish(
            self._topic_reported, report.model_dump_json().encode(), qos=1, retain=True
        )

    # -- policy: curfew, profiles, apps (issue 5) -------------------------------------------

    @property
    def profile(self) -> str:
        desired = self.desired
        return desired.profile if desired is not None else DEFAULT_PROFILE

    @property
    def trusted_clock(self) -> TrustedClock:
        return self._trusted

    def _trusted_datetime(self) -> datetime.datetime | None:
        """The update engine's clock: the trusted clock, so a signed time kept from before a
        restart is not taken for the time now (None until a fresh one arrives)."""
        now = self._trusted.now_ms()
        return None if now is None else datetime.datetime.fromtimestamp(now / 1000, datetime.UTC)

    def _expiry_clock(self, key: str) -> int:
        """The time a document's expiry is checked against. The signed time is checked against
        the latest trusted time known (its versions already refuse a replay), and the policy
        against the trusted clock when there is one: a system clock set ahead must not make the
        tablet refuse the very time that would correct it, nor every new policy or staff lock:
        desired state and lockdown, too, use the trusted clock once there is one."""
        if key == "time":
            return self._trusted.floor_ms()
        trusted = self._trusted.now_ms()
        return trusted if trusted is not None else self._now_ms()

    def _policy_documents(self, key: str | None = None) -> None:
        """Feed the enforcer what was applied: the wing policy and the signed time."""
        if key in (None, "policy"):
            policy = self._documents.get("policy")
            if isinstance(policy, WingPolicy):
                self.policy.set_policy(policy)
                if self._app_installs is not None:
                    self._app_installs.policy_changed(policy)
        if key in (None, "time"):
            beacon = self._documents.get("time")
            if isinstance(beacon, SignedTime):
                if key is None:  # from the store: a lower bound only, the monotonic base is gone
                    self._trusted.raise_floor(beacon.issued)
                else:
                    moved = self._trusted.anchor(beacon.issued)
                    # The policy loop re-decides at every boundary; a beacon changes what the
                    # shell shows only when time becomes trusted or is corrected noticeably.
                    if moved is None or abs(moved) > JUMP_TOLERANCE_MS:
                        self._refresh()
                    if moved is None and self._app_installs is not None:
                        self._app_installs.time_trusted()

    async def _policy_loop(self) -> None:
        """Re-decide at every policy boundary (and every few seconds): the curfew starts and
        ends, warnings and app hours take effect on the trusted clock, broker or no broker."""
        while True:
            await asyncio.sleep(self.policy.sleep_s())
            try:
                jump = self._trusted.check_wall()
                if jump is not None:
                    await self._audit_local(
                        "clock_jump", "system", "ignored",
                        f"system clock moved {jump.delta_ms / 1000:+.0f} s; trusted time kept",
                    )
                if not self.policy.due(self.profile, locked=self._state.locked):
                    continue
                before = self._state.curfew.state
                self._refresh()
                if self._state.curfew.state != before:
                    await self._publish_reported()
            except aiomqtt.MqttError:
                pass  # the session task reconnects; the state is already shown
            except Exception:  # never let the policy loop die: it is the curfew's clock
                log.exception("%s: policy loop error", self.config.device_id)

    async def _launch(self, request: LaunchRequest) -> LaunchReply:
        refused = self.policy.policy_allows(request.app, self.profile, locked=self._state.locked)
        outcome = (
            refused if refused is not None
            else await asyncio.to_thread(self.policy.verify, request.app)
        )
        if outcome.refused:
            await self._audit_local("refused", "launch", "app_refused",
                                    f"{request.app}: {outcome.reply.reason}")
        return outcome.reply

    async def _audit_local(self, event: str, topic: str, reason: str, detail: str) -> None:
        log.warning("%s: %s %s: %s: %s", self.config.device_id, event, topic, reason, detail)
        store = self._store
        if store is None:
            return
        try:
            await asyncio.to_thread(
                store.audit, AuditRow(self._now_ms(), event, topic, reason, detail)
            )
        except StoreError as exc:
            self._fail(f"cannot write audit: {exc}")

    # -- requests to staff (issue 6) --------------------------------------------------------

    async def _open_requests(self) -> None:
        """Open the request outbox; without it the Requests app says it cannot send (the rest
        of the tablet is unaffected)."""
        try:
            outbox = await asyncio.to_thread(Outbox, self.config.state_dir / "requests.db")
            desk = RequestDesk(
                outbox, device=self.config.device_id, trusted_keys=self._keys,
                now_ms=self._now_ms, audit=self._audit_local, changed=self._refresh,
            )
            await desk.load()
        except StoreError as exc:
            log.error("%s: request outbox unreadable: %s", self.config.device_id, exc)
            return
        self._requests = desk

    async def _submit(self, request: SubmitRequest) -> RequestSaved:
        if self._requests is None:
            return RequestSaved(ok=False, reason="requests are not available on this tablet")
        return await self._requests.submit(request)
