"""The agent service: one tablet's agent, composed of its parts.

- `agent.documents`: the signed documents applied, kept in the store;
- `agent.expiry` + `agent.clock`: which clock judges them (never the system clock alone);
- `agent.policy`: curfew, profiles and the launch check, on the trusted clock;
- `agent.shell_link`: the state the shell sees, on the local socket;
- `agent.session`: the MQTT session with the wing;
- `agent.update_link`: OS updates and app installs; `agent.requests`: requests to staff;
- `agent.people`: who is signed in (PIN checks, sessions, person events).

The per-message path is the lock latency path: verify the envelope, persist it, push
the new state to the shell, publish `reported`. Everything an `Agent` owns hangs off the instance:
many run in one event loop (benchmark, demo), and cancelling `run()` stops one cleanly. Every
long-running loop runs in `run()`'s TaskGroup: one that fails ends `run()` with its error (the
shell then sees no socket, which it shows as locked, and systemd restarts the agent).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from importlib import metadata
from typing import TYPE_CHECKING, TypeVar

import aiomqtt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.audit import AuditEvent, AuditTrail, Background
from agent.cert_expiry import CertExpiry
from agent.clock import JUMP_TOLERANCE_MS, MonotonicSource, TrustedClock, WallSource, boottime
from agent.config import AgentConfig
from agent.documents import AppliedDocuments, DocumentKind, Route, routes
from agent.expiry import ExpiryJudge
from agent.inbox import Inbox
from agent.jobs import JobRunner
from agent.keys import load_trusted_keys
from agent.outbox import Outbox
from agent.people import PeopleStore, PersonDesk
from agent.policy import PolicyEnforcer
from agent.policy_loop import policy_loop
from agent.requests import RequestDesk
from agent.session import WingSession
from agent.shell_link import ShellLink
from agent.store import StoreError
from agent.view import profile_of, reported_state, shell_state
from agent.web_view import browser_argv, start_url, subject_of
from agent.webproxy import Refusal, WebForwarder, forwarder_for
from wire import topics
from wire.documents import DesiredState, ReportedState, SignedBody, SignedTime, WingLockdown
from wire.hostnames import HostError, normalise_host
from wire.localapi import (
    ActiveRequest,
    ChangePinRequest,
    LaunchReply,
    LaunchRequest,
    LessonRequest,
    PersonReply,
    PersonRequest,
    RequestSaved,
    RequestView,
    SetPinRequest,
    SettingsRequest,
    ShellState,
    SignInRequest,
    SubmitRequest,
    WebBlocked,
    WebOpenRequest,
    WebView,
    failsafe_state,
)
from wire.policy import WingPolicy
from wire.prisoners import Occupants, PersonEvent, SessionEnd

if TYPE_CHECKING:
    from agent.update_link import UpdateLink

log = logging.getLogger(__name__)

D = TypeVar("D", bound=SignedBody)

try:
    AGENT_VERSION = metadata.version("cellbridge")
except metadata.PackageNotFoundError:  # running from a source tree
    AGENT_VERSION = "0+unknown"

Clock = Callable[[], int]
"""Milliseconds since the epoch: the system clock (audit rows, acks; never a document's expiry
on its own: `agent.expiry`)."""


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


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
        """`clock` is the system clock in ms; the trusted clock runs on `monotonic` and watches
        `wall` for jumps (agent.clock)."""
        self.config = config
        self.boot_id = uuid.uuid4().hex
        """Identifies this run of the agent in `status` and `reported`."""
        self._now_ms = clock
        self._monotonic = monotonic
        self._keys = dict(trusted_keys) if trusted_keys is not None else load_trusted_keys(config)
        self._routes = routes(config.device_id, config.wing)
        self._cert_expiry = CertExpiry(config.broker.tls.cert if config.broker.tls else None)
        self.trusted_clock = TrustedClock(monotonic=monotonic, wall=wall)
        self._judge = ExpiryJudge(self.trusted_clock, clock)
        self.policy = PolicyEnforcer(wing=config.wing, apps_dir=config.apps_path,
                                     trusted_keys=self._keys, clock=self.trusted_clock)
        self._failure: str | None = "agent starting"
        self._audit = AuditTrail(config.device_id, clock, on_fail=self._fail)
        self._shell = ShellLink(config, compose=self._compose_state,
                                connected=lambda: self.connected, launch=self._launch,
                                submit=self._submit, person=self._person)
        self._session = WingSession(config, boot_id=self.boot_id, now_ms=clock,
                                    on_message=self._on_message, report=self._report,
                                    on_connection=self._on_connection)
        self._updates = None if config.updates is None else _update_link()(
            config.updates, config.apps_path, now=self.trusted_clock.now_utc,
            connected=lambda: self.connected, shell_watching=lambda: self._shell.watchers > 0,
            verify=self.policy.verify_files, changed=self._on_engine_change, audit=self._audit)
        self._inbox = Inbox(trusted_keys=self._keys, judge=self._judge, audit=self._audit,
                            ack=self._session.ack, now_ms=clock, took_effect=self._took_effect,
                            store_failed=self._store_failed)
        self._requests: RequestDesk | None = None
        self._jobs: JobRunner | None = None
        self._client: aiomqtt.Client | None = None
        self._forwarder: WebForwarder | None = None
        self._web_blocked: WebBlocked | None = None
        self._people: PersonDesk | None = None
        self._background = Background(config.device_id)
        self.ready = asyncio.Event()
        """Set once the state is loaded (or failed closed) and the shell's socket listens."""

    # -- what the agent knows -------------------------------------------------------------

    @property
    def state(self) -> ShellState:
        return self._shell.state

    @property
    def connected(self) -> bool:
        return self._session.connected

    def _applied(self, kind: DocumentKind, doc_type: type[D]) -> D | None:
        documents = self._inbox.documents
        return documents.get(kind, doc_type) if documents is not None else None

    @property
    def last_signed_time(self) -> SignedTime | None:
        """The newest verified `wing/time` (the trusted clock is built on it)."""
        return self._applied(DocumentKind.TIME, SignedTime)

    @property
    def desired(self) -> DesiredState | None:
        return self._applied(DocumentKind.DESIRED, DesiredState)

    @property
    def lockdown(self) -> WingLockdown | None:
        return self._applied(DocumentKind.LOCKDOWN, WingLockdown)

    @property
    def profile(self) -> str:
        """The profile the apps follow (tiles and launch check alike, agent.view.profile_of):
        the tablet's; with occupants, the signed-in person's, or only the always-allowed apps."""
        return profile_of(self.desired, self._signed_in())

    def _signed_in(self) -> str | None:
        """Who is fully signed in (a PIN chosen), if anyone: their profile and grants apply."""
        writer = self._people.writer() if self._people is not None else None
        return writer if isinstance(writer, str) else None

    def add_listener(self, callback: Callable[[ShellState], None]) -> None:
        """Call `callback` with every new state (as the shell gets it), e.g. to tell systemd."""
        self._shell.add_listener(callback)

    # -- lifecycle ------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until cancelled. Bad input never ends it; a long-running loop that fails does
        (raised as an ExceptionGroup, after closing everything)."""
        await self._load()
        try:
            # Only once loaded: a socket that answers holds the real state (an absent one means
            # locked to the shell anyway).
            await self._shell.start()
            self.ready.set()
            async with asyncio.TaskGroup() as loops:
                loops.create_task(self._policy_loop())
                if self._updates is not None:
                    for loop in self._updates.loops(self.desired):
                        loops.create_task(loop)
                loops.create_task(self._session.run())
                if self._people is not None:
                    loops.create_task(self._people.idle_loop())
                if self.config.web is not None:
                    loops.create_task(self._serve_web(self.config.web.listen_port))
        except* Exception:
            log.critical("%s: an agent loop failed; the agent stops", self.config.device_id,
                         exc_info=True)
            raise
        finally:
            await self._shell.close()
            if self._people is not None:
                await self._background.close()  # signed_out events still being kept
                await asyncio.to_thread(self._people.close)
            if self._requests is not None:
                await self._requests.close()
            await self._background.close()
            await self._audit.close()
            self._audit.store = None
            if self._inbox.documents is not None:  # what was applied stays readable
                await self._inbox.documents.close()

    async def _load(self) -> None:
        """Open the store (in a worker: opening syncs to disk) and rebuild what was applied."""
        try:
            documents = await AppliedDocuments.open(self.config.store_path,
                                                    list(self._routes.values()))
        except StoreError as exc:
            self._fail(f"state store unreadable: {exc}")
            return
        self._inbox.documents = documents
        self._audit.store = documents.store
        await self._open_requests()
        await self._open_people()
        jobs = JobRunner(
            documents.store, device=self.config.device_id, trusted_keys=self._keys,
            judge=self._judge, now_ms=self._now_ms, audit=self._audit, ack=self._session.ack,
            erase_outbox=self._erase_outbox, data_dirs=self.config.user_data_dirs,
            keep=[self.config.state_dir, self.config.apps_path],
            desired_version=lambda: self.desired.version if self.desired else 0,
            changed=self._on_engine_change, reboot_command=self.config.reboot_command)
        try:
            await jobs.load()
        except StoreError as exc:
            self._fail(f"state store unreadable: {exc}")
            return
        self._jobs = jobs
        self._feed_policy(None)
        self._failure = None
        self._shell.refresh()

    def _fail(self, reason: str) -> None:
        """The agent can no longer trust its own state: locked until someone repairs it."""
        log.error("%s: failing closed: %s", self.config.device_id, reason)
        self._failure = reason[:200]
        self._shell.refresh()

    def _compose_state(self) -> ShellState:
        """The shell's state from the lock, the policy, the requests and the update engine."""
        device = self.config.device_id
        reset = self._jobs.locked_reason if self._jobs is not None else None
        if self._failure is not None or reset is not None:
            state = failsafe_state(device, self._failure or reset or "").model_copy(
                update={"connected": self.connected})
        else:
            state = shell_state(device, self.desired, self.lockdown, connected=self.connected)
        profile = self.profile
        view = self.policy.view(profile, locked=state.locked)
        policy = self.policy.policy
        state = state.model_copy(update={
            "curfew": view.curfew, "apps": view.apps, "trusted_time": view.trusted_time,
            "timezone": policy.timezone if policy is not None else None,
            "web": self._web_view(locked=state.locked or self._failure is not None)})
        state = self._with_people(state)
        if self.profile != profile:  # the session just ended (lock, curfew): nobody's apps
            profile = self.profile
            state = state.model_copy(update={
                "apps": self.policy.view(profile, locked=state.locked).apps,
                "web": self._web_view(locked=state.locked or self._failure is not None)})
        if self._failure is None and reset is None:  # the fail-safe keeps its own ("basic")
            state = state.model_copy(update={"profile": profile})
        return self._updates.shown(state) if self._updates is not None else state

    def _with_people(self, state: ShellState) -> ShellState:
        """Who may sign in, who is, and their requests. A lock or curfew ends the session here,
        in the same state that shows it, and hides the occupants: the lock and curfew screens
        never know who was (or could be) signed in."""
        people = self._people
        occupants = self._occupants()
        if people is None:  # no people store: nobody can sign in (fail closed)
            writer: str | bool | None = False if occupants.people else None
            return state.model_copy(update={"requests": self._request_views(writer)})
        ended = self._session_end(state)
        if ended is not None:
            session = people.end_now(ended)
            if session is not None:
                self._background.spawn(people.announce(session, ended))
                self._background.spawn(self._session.publish_reported())
        return state.model_copy(update={
            "occupants": people.views() if ended is None else (),
            "person": people.person_view(),
            "requests": self._request_views(people.writer())})

    def _request_views(self, writer: str | bool | None) -> tuple[RequestView, ...]:
        if self._requests is None or writer is False:
            return ()
        return self._requests.views(writer if isinstance(writer, str) else None)

    @staticmethod
    def _session_end(state: ShellState) -> SessionEnd | None:
        """Why no session may go on under `state` (None: it may)."""
        if state.locked or state.lock.locked:
            return "lockdown" if state.lock.source == "wing" else "lock"
        if state.curfew.state in ("curfew", "unknown"):
            return "curfew"
        return None

    def _session_idle_s(self) -> float:
        """The wing policy's idle limit for a prisoner's session, else the tablet's own."""
        policy = None if self._failure else self.policy.policy
        minutes = policy.session_idle_minutes if policy is not None else None
        return minutes * 60.0 if minutes is not None else self.config.session_idle_s

    def _blocked(self) -> str | None:
        """Why nobody may sign in right now (None: they may)."""
        if self._failure is not None:
            return "the tablet is locked"
        ended = self._session_end(self.state)
        return None if ended is None else {"curfew": "curfew"}.get(ended, "the tablet is locked")

    def _occupants(self) -> Occupants:
        desired = None if self._failure else self.desired
        return desired.occupants if desired is not None else Occupants()

    def _living_here(self) -> set[str] | None:
        """Who lives in the cell by the applied desired state; None without one (or failed
        closed): the request desk then neither takes nor drops anyone's requests."""
        desired = None if self._failure else self.desired
        return None if desired is None else {p.number for p in desired.occupants.people}

    def _report(self) -> ReportedState:
        """`reported`: what is applied (nothing, once failed closed) and what it shows."""
        desired, lockdown = (None, None) if self._failure else (self.desired, self.lockdown)
        state = self.state
        report = reported_state(
            state, desired, lockdown, at=self._now_ms(), boot_id=self.boot_id,
            agent_version=AGENT_VERSION,
        ).model_copy(update={"policy_hash": self.policy.policy_hash,
                             "curfew": state.curfew.state,
                             "signed_in": state.person.number if state.person else None,
                             "cert_not_after": self._cert_expiry.not_after_ms()})
        return self._updates.reported(report) if self._updates is not None else report

    def _on_engine_change(self) -> None:
        """An update or app install moved (on the event loop): tell the shell and the gateway."""
        self._shell.refresh()
        self._background.spawn(self._session.publish_reported())

    def _on_connection(self, client: aiomqtt.Client | None) -> None:
        self._client = client
        if self._requests is not None:
            self._requests.connected(client)
        self._shell.refresh()

    # -- from the wing ----------------------------------------------------------------------

    async def _on_message(self, topic: str, raw: bytes) -> None:
        try:
            route = self._routes.get(topic)
            if route is not None:
                await self._inbox.on_document(topic, route, raw, self._failure or "")
            elif self._requests is not None and topic == self._requests.topic_reply:
                await self._requests.on_reply(raw)
            elif topic == self._session.topic_cmd:
                if self._jobs is not None:
                    await self._jobs.on_job(raw)
                else:
                    await self._inbox.refuse(topic, "job", None, "store_unavailable",
                                             self._failure or "")
            else:
                log.debug("%s: ignoring %s", self.config.device_id, topic)
        except aiomqtt.MqttError:
            raise
        except Exception:  # a bug must not take the tablet down; the state stays as it was
            log.exception("%s: error handling %s", self.config.device_id, topic)

    async def _took_effect(self, route: Route, document: SignedBody) -> None:
        """A document was stored and applied: it takes effect."""
        if self._updates is not None and isinstance(document, DesiredState):
            self._updates.desired_changed(document)
        if self._people is not None and isinstance(document, DesiredState):
            await self._people.occupants_changed()
        if self._requests is not None and isinstance(document, DesiredState):
            await self._requests.occupants_changed()
        if self._jobs is not None and isinstance(document, DesiredState):
            await self._jobs.desired_applied(document.version)
        became_trusted = self._feed_policy(route.kind)
        if route.acked:
            self._shell.refresh()
            await self._session.publish_reported()
        if became_trusted:
            await self._inbox.judge_held()
            if self._requests is not None:
                await self._requests.time_trusted()
            if self._jobs is not None:
                await self._jobs.time_trusted()

    async def _store_failed(self, reason: str) -> None:
        self._fail(reason)
        await self._session.publish_reported()

    def _feed_policy(self, kind: DocumentKind | None) -> bool:
        """Feed the enforcer what was applied (`kind`; None: all, from the store): the wing
        policy and the signed time. True when this made the time trusted."""
        if kind in (None, DocumentKind.POLICY):
            policy = self._applied(DocumentKind.POLICY, WingPolicy)
            if policy is not None:
                self.policy.set_policy(policy)
                if self._updates is not None:
                    self._updates.policy_changed(policy)
        beacon = self._applied(DocumentKind.TIME, SignedTime)
        if kind not in (None, DocumentKind.TIME) or beacon is None:
            return False
        if kind is None:  # from the store: a lower bound only, the monotonic base is gone
            self.trusted_clock.raise_floor(beacon.issued)
            return False
        moved = self.trusted_clock.anchor(beacon.issued)
        # The policy loop re-decides at every boundary; a beacon changes what the shell shows
        # only when time becomes trusted or is corrected noticeably.
        if moved is None or abs(moved) > JUMP_TOLERANCE_MS:
            self._shell.refresh()
        if moved is None and self._updates is not None:
            self._updates.time_trusted()
        return moved is None

    # -- policy: curfew, profiles, apps (issue 5) -------------------------------------------

    async def _policy_loop(self) -> None:
        await policy_loop(self.policy, self.trusted_clock, audit=self._audit,
                          shown=lambda: self.state, profile=lambda: self.profile,
                          refresh=self._shell.refresh, report=self._session.publish_reported,
                          device=self.config.device_id)

    async def _launch(self, request: LaunchRequest | WebOpenRequest) -> LaunchReply:
        """The files are verified in a worker first; the decision (`PolicyEnforcer.launch`) is
        taken after, with no `await` between it and the answer."""
        if isinstance(request, WebOpenRequest):
            return await self._web_open(request)
        verified = await asyncio.to_thread(self.policy.verify, request.app)
        outcome = self.policy.launch(request.app, self.profile, locked=self.state.locked,
                                     verified=verified)
        if outcome.refused:
            await self._audit.warn(AuditEvent.REFUSED, "launch", "app_refused",
                                   f"{request.app}: {outcome.reply.reason}")
        return outcome.reply

    # -- the Web app (issue 14) --------------------------------------------------------------

    async def _serve_web(self, port: int) -> None:
        """The browser's forwarder; its refusals reach the shell (its blocked screen)."""
        assert self.config.web is not None
        self._forwarder = forwarder_for(self.config.web, self.config.broker, self._web_refused)
        await self._forwarder.start(port)
        self._shell.refresh()
        try:
            await asyncio.Event().wait()
        finally:
            await self._forwarder.close()

    def _web_refused(self, refusal: Refusal) -> None:
        try:
            host = normalise_host(refusal.host)
        except HostError:
            host = ""  # not a name: the shell shows no address
        self._web_blocked = WebBlocked(host=host, reason=refusal.reason[:64],
                                       at=max(0, int(refusal.at * 1000)))
        self._shell.refresh()

    def _web_view(self, *, locked: bool) -> WebView:
        if self._forwarder is None or self._forwarder.port == 0:
            return WebView()
        subject = subject_of(self.desired, self.profile, locked=locked, person=self._signed_in())
        return WebView(available=True, sites=self.policy.web_sites(subject),
                       blocked=self._web_blocked)

    async def _web_open(self, request: WebOpenRequest) -> LaunchReply:
        """Yes (with the browser's command line) only for a site the Web app lists now."""
        web, policy = self.config.web, self.policy.policy
        locked = self.state.locked or self._failure is not None
        listed = self._web_view(locked=locked).sites
        site = policy.sites.get(request.site) if policy is not None else None
        reason = ""
        if web is None or self._forwarder is None or not self._forwarder.port:
            reason = "the web is not available on this tablet"
        elif locked:
            reason = "the tablet is locked"
        elif site is None or all(s.site != request.site for s in listed):
            reason = "not on this tablet's list now"
        if reason or web is None or site is None or self._forwarder is None:
            await self._audit.warn(AuditEvent.REFUSED, "web", "site_refused",
                                   f"{request.site}: {reason}")
            return LaunchReply(app="web", ok=False, reason=reason)
        argv = browser_argv(web.browser, url=start_url(site), proxy_port=self._forwarder.port)
        return LaunchReply(app="web", ok=True, reason=request.site, argv=argv)

    # -- requests to staff (issue 6) --------------------------------------------------------

    async def _open_requests(self) -> None:
        """Without the request outbox the Requests app says it cannot send (the rest of the
        tablet is unaffected)."""
        try:
            outbox = await asyncio.to_thread(Outbox, self.config.state_dir / "requests.db")
            desk = RequestDesk(outbox, device=self.config.device_id, trusted_keys=self._keys,
                               judge=self._judge, now_ms=self._now_ms, audit=self._audit.warn,
                               changed=self._shell.refresh, here=self._living_here)
            await desk.load()
        except StoreError as exc:
            log.error("%s: request outbox unreadable: %s", self.config.device_id, exc)
            return
        self._requests = desk

    async def _erase_outbox(self) -> None:
        """A wipe: the request outbox, closed, deleted and opened again empty; the people
        store's chosen PINs and lesson steps erased."""
        if self._people is not None:
            await self._people.wipe()
        desk, self._requests = self._requests, None
        if desk is not None:
            await desk.close()
        for suffix in ("", "-wal", "-shm", "-journal"):
            (self.config.state_dir / f"requests.db{suffix}").unlink(missing_ok=True)
        await self._open_requests()
        if self._requests is not None:
            self._requests.connected(self._client)
        self._shell.refresh()

    async def _submit(self, request: SubmitRequest) -> RequestSaved:
        if self._requests is None:
            return RequestSaved(ok=False, reason="requests are not available on this tablet")
        writer = self._people.writer() if self._people is not None else (
            False if self._occupants().people else None)
        if writer is False:
            return RequestSaved(ok=False, reason="sign in first")
        if self._people is not None:
            self._people.touch()
        return await self._requests.submit(request, writer if isinstance(writer, str) else None)

    # -- prisoner accounts (issue 16) -------------------------------------------------------

    async def _open_people(self) -> None:
        """Without people.db nobody can sign in (a tablet with occupants shows no requests)."""
        try:
            store = await asyncio.to_thread(PeopleStore, self.config.state_dir / "people.db")
        except StoreError as exc:
            log.error("%s: people store unreadable: %s", self.config.device_id, exc)
            return
        self._people = PersonDesk(
            store, device=self.config.device_id, occupants=self._occupants,
            blocked=self._blocked, idle_s=self._session_idle_s,
            monotonic=self._monotonic, now_ms=self._now_ms, emit=self._emit_person,
            changed=self._people_changed)

    def _people_changed(self) -> None:
        self._shell.refresh()
        self._background.spawn(self._session.publish_reported())

    async def _emit_person(self, event: PersonEvent) -> None:
        """Keep a person event in the outbox; it goes out exactly once when connected."""
        if self._requests is None:
            log.error("%s: no outbox: %s event for %s dropped", self.config.device_id,
                      event.kind, event.person)
            return
        await self._requests.add_event(topics.TabletChannel.PERSON, event.id,
                                       event.model_dump_json().encode())

    async def _person(self, request: PersonRequest) -> PersonReply:
        people = self._people
        if people is None:
            return PersonReply(op=request.op, outcome="refused",
                               reason="sign-in is not available on this tablet")
        if isinstance(request, SignInRequest):
            return await people.sign_in(request.number, request.pin)
        if isinstance(request, SetPinRequest):
            return await people.set_pin(request.pin)
        if isinstance(request, ChangePinRequest):
            return await people.change_pin(request.old, request.pin)
        if isinstance(request, ActiveRequest):
            return people.touch()
        if isinstance(request, SettingsRequest):
            return await people.set_settings(request.settings)
        if isinstance(request, LessonRequest):
            return await people.set_lesson(request.lesson, request.state)
        return await people.sign_out()


def _update_link() -> type[UpdateLink]:
    """The update engine and app installer load only on a tablet that takes updates."""
    from agent.update_link import UpdateLink

    return UpdateLink
