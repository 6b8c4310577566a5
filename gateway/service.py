"""The wing gateway service: the parts, composed. It signs and publishes desired state, records
what tablets report, and reconciles, because the broker is a transport that forgets and this
service is the durable record. Each part has one job and a public face; this module builds them,
wires who hears what, and runs them (the MQTT session feeding `Inbound`, the time beacon, the
renewal clock, the batched writes of reports). Staff actions are coroutines of the parts
(`locks`, `policy`, `requests`, `rollouts`, what waits for a second person in `approvals`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import aiomqtt

from common.mqtt import SessionTakenOver, make_client, run_reconnecting, was_taken_over
from gateway.beacon import TimeBeacon
from gateway.broker_link import BROKER_UPTIME, BrokerLink
from gateway.config import GatewayConfig
from gateway.desired import LockRequest, first_desired
from gateway.fleet import Fleet, Selector
from gateway.inbound import Inbound
from gateway.issuer import Issue, Issuer, load_signing_key
from gateway.job_desk import JobDesk
from gateway.lock import LockOutcome, Locks
from gateway.parts import Parts
from gateway.policy_service import PolicyService
from gateway.prison_link import PrisonLink
from gateway.prisoners import Prisoners
from gateway.publisher import Publisher
from gateway.renewal import Renewal
from gateway.requests import RequestDesk
from gateway.retention import AuditRetention
from gateway.revoked_sessions import RevokedSessions
from gateway.rollout_service import RolloutManager
from gateway.store import Audit, AuditEntry, ChainCheck, Store, Tablet
from gateway.store_thread import StoreThread
from gateway.two_person import Approvals
from gateway.views import tablet_views
from gateway.web_grants import WebAccess
from gateway.web_log import RETENTION_DAYS, BrowsingRecord
from gateway.web_proxy import WebProxy
from wire import topics
from wire.documents import ReportedState
from wire.prison import PRISON_ALL
from wire.topics import TabletChannel

log = logging.getLogger(__name__)

SESSION_EXPIRY_S = 86400
SUBSCRIPTIONS = [
    *((topics.tablet_filter(channel), 1) for channel in (
        TabletChannel.REPORTED, TabletChannel.STATUS, TabletChannel.ACK, TabletChannel.REQUEST,
        TabletChannel.PERSON)),
    (topics.tablet_filter(TabletChannel.TELEMETRY), 0),
    (BROKER_UPTIME, 0),
]


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class GatewayService:
    def __init__(self, config: GatewayConfig, *, clock: Callable[[], int] = wall_ms) -> None:
        self.config = config
        self.clock = clock
        key = load_signing_key(config.signing_key)
        config.state_dir.mkdir(parents=True, exist_ok=True)
        self.store = store = Store(config.database)
        self.io = io = StoreThread()
        now = clock()
        store.add_tablets(
            [Tablet(seed.id, seed.cell, seed.landing) for seed in config.tablets], now,
            lambda seeded: Audit(now, "config", "register", f"wing:{config.wing}", {
                "tablets": [{"id": t.id, "cell": t.cell, "landing": t.landing} for t in seeded]}),
        )
        self.fleet = fleet = Fleet(store, io)
        self.issuer = issuer = Issuer(config, key, store, io)
        unissued = [t for t in fleet.tablets if t not in issuer.desired]
        if unissued:
            issuer.issue_now(self._first_desired(unissued, now))
        self.inbound = inbound = Inbound(config, fleet, store, io, clock)
        self.publisher = publisher = Publisher(config, issuer, fleet, clock)
        self.link = BrokerLink()
        self.link.disconnected(now)
        self.revoked_sessions = None if inbound.revoked is None else RevokedSessions(
            inbound.revoked, publisher, self._audit, clock)
        self.beacon = TimeBeacon(issuer, publisher, clock, config.time_beacon_s)
        self.renewal = Renewal(config, issuer, fleet, publisher, clock)
        parts = Parts(config.wing, fleet, issuer, publisher, store, io, clock)
        self.locks = Locks(parts)
        self.policy = PolicyService(parts)
        self.requests, self.jobs = RequestDesk(parts), JobDesk(parts)
        self.rollouts = RolloutManager(config.state_dir / "rollouts.json", parts,
                                       config.repository.dir if config.repository else None)
        self.web = WebAccess(parts)
        self.approvals = Approvals()  # what waits for a second person, console and CLI alike
        self.prisoners = Prisoners(parts, inbound, self.web, self.requests,
                                   config.prisoner_retention_days)
        self.browsing = BrowsingRecord(
            store, io, config.web.log_retention_days if config.web else RETENTION_DAYS)
        self.retention = None if config.audit_keep_days is None else AuditRetention(
            store, io, config.state_dir / "audit-archive", config.audit_keep_days, clock)
        self.web_proxy = (WebProxy(config.web, config.state_dir, self.web, self.browsing, clock)
                          if config.web else None)
        # Who hears what.
        inbound.routes[TabletChannel.REQUEST] = self.requests.on_request
        inbound.on_report += [self.policy.on_report, self.locks.on_report, self.rollouts.observe]
        inbound.on_refused.append(self.locks.on_refused)
        inbound.on_ack += [self.requests.on_ack, self.jobs.on_ack]
        inbound.on_birth.append(publisher.on_birth)
        publisher.on_reconcile += [self.beacon.soon, self.requests.on_birth, self.jobs.on_birth]
        publisher.on_connect += [self.requests.republish, self.jobs.republish]
        if self.revoked_sessions is not None:
            publisher.on_connect.append(self.revoked_sessions.on_connect)
        self.prison: PrisonLink | None = None
        if config.prison is not None:
            self.prison = PrisonLink(config.prison, parts, self.locks, config.state_dir,
                                     rollouts=self.rollouts)
            publisher.on_connect.append(self.prison.on_connect)

    # -- the record, as the API shows it ----------------------------------------------------

    @property
    def connected(self) -> asyncio.Event:
        return self.publisher.connected

    @property
    def tablets(self) -> dict[str, Tablet]:
        return self.fleet.tablets

    @property
    def reported(self) -> dict[str, ReportedState]:
        return self.fleet.reported

    def tablet_views(self) -> list[dict[str, object]]:
        return tablet_views(self.fleet, self.issuer, live=self.link.up)

    def broker_view(self) -> dict[str, object]:
        """The broker link for `GET /v1/health`: up or down since when, takeovers, alarms."""
        return self.link.view(self.clock())

    async def audit_entries(self, limit: int | None) -> list[AuditEntry]:
        return await self.io(self.store.audit_entries, limit)

    async def verify_audit(self) -> ChainCheck:
        return await self.io(self.store.verify_audit)

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until cancelled; on the way out, write what tablets reported."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(
                    run_reconnecting(self._session, backoff_max_s=self.config.broker.backoff_max_s,
                                     name=f"gateway {self.config.wing}",
                                     on_taken_over=self._taken_over)
                )
                optional = (self.revoked_sessions, self.web_proxy, self.prison, self.retention)
                for loop in (self.beacon, self.renewal, self.fleet, self.web, self.jobs,
                             self.prisoners,
                             *(part for part in optional if part is not None)):
                    group.create_task(loop.run())
        finally:
            self.publisher.cancel()
            await self.fleet.write()

    def close(self) -> None:
        self.io.close()
        self.fleet.flush()
        self.store.close()

    async def _session(self) -> None:
        client = make_client(self.config.broker, f"gateway-{self.config.wing}",
                             persistent_session_s=SESSION_EXPIRY_S)
        try:
            async with client:
                await client.subscribe([
                    *SUBSCRIPTIONS, *([(PRISON_ALL, 1)] if self.prison is not None else [])])
                log.info("connected to broker %s:%s", self.config.broker.host,
                         self.config.broker.port)
                self.link.connected(self.clock())
                self.publisher.attach(client)
                try:
                    await self._serve(client)
                finally:
                    self.publisher.detach()
                    self.link.disconnected(self.clock())
        except aiomqtt.MqttError as error:
            if not was_taken_over(error):
                self.link.dropped(self.clock())
            raise

    async def _serve(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            if str(message.topic) == BROKER_UPTIME:
                payload = message.payload if isinstance(message.payload, bytes) else b""
                if self.link.uptime(payload, self.clock()):
                    raise SessionTakenOver("the broker closed our last session while it "
                                           "stayed up: another client took our identity")
                continue
            if self.prison is not None and message.topic.matches(PRISON_ALL):
                await self.prison.handle(str(message.topic), bytes(message.payload))
            else:
                await self.inbound.handle(message)

    async def _taken_over(self, in_a_row: int) -> None:
        """Another client connected with the gateway's identity and pushed it off the broker: a
        security event (a copied gateway key, or a second gateway for the wing)."""
        now = self.clock()
        self.link.taken_over(now)
        await self._audit(Audit(now, "system", "session_taken_over", f"wing:{self.config.wing}", {
            "identity": "gateway", "reason_code": "0x8E", "in_a_row": in_a_row,
            "since_start": self.link.takeovers}))

    async def _audit(self, audit: Audit) -> None:
        await self.io(self.store.append, audit)

    # -- staff actions ---------------------------------------------------------------------

    async def lock(self, selector: Selector, request: LockRequest, wait_s: float = 0.0
                   ) -> LockOutcome:
        return await self.locks.lock(selector, request, wait_s)

    async def register(self, tablet: Tablet, by: str) -> bool:
        """Register (or move) a tablet; a new one is issued its first desired state."""
        now = self.clock()
        changed = await self.io(self.store.add_tablet, tablet, now, Audit(
            now, f"staff:{by}", "register", f"device:{tablet.id}",
            {"cell": tablet.cell, "landing": tablet.landing}))
        if changed:
            self.fleet.tablets[tablet.id] = tablet
            if tablet.id not in self.issuer.desired:
                await self.issuer.issue(lambda: self._first_desired([tablet.id], now))
            await self.prisoners.refresh(f"{tablet.id} registered in {tablet.cell}")
            self.publisher.spawn(self.publisher.desired(tablet.id))
        return changed

    def _first_desired(self, devices: list[str], now: int) -> Issue:
        """Every registered tablet has a desired state: until it does, it stays locked."""
        return Issue(
            desired=[first_desired(d, now, self.issuer.ttl_ms,
                                   reported=self.fleet.reported_desired(d)) for d in devices],
            audit=Audit(now, "system", "first_desired", f"wing:{self.config.wing}",
                        {"devices": devices}))
