"""Policy enforcement on the tablet: the stored wing policy, the trusted clock, and launch checks.

`PolicyEnforcer` holds what the agent needs to answer, with no network: the last accepted wing
policy (compiled to a `wire.schedule.Schedule`) and the trusted clock. It decides what the shell
shows (curfew view, app tiles) and whether an app may start; the agent service owns the I/O around
it (MQTT, the store, the socket); `verify` hashes files, so the agent runs it in a worker and
then decides with `launch` on the event loop.

Fail closed throughout: no policy → no app at all and curfew `unknown`; no trusted time → curfew
rules (only always-allowed apps); an error while deciding → no app.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.apps import AppCheck, verify_app
from agent.clock import TrustedClock
from agent.policy_view import app_tiles, curfew_view
from agent.view import NOBODY
from agent.web_view import web_sites
from wire.documents import wing_audience
from wire.localapi import AppTile, CurfewView, LaunchReply, WebSite
from wire.policy import WingPolicy, policy_hash
from wire.schedule import Decision, Schedule
from wire.webaccess import Subject

log = logging.getLogger(__name__)

MAX_SLEEP_S = 5.0
"""The longest the agent waits between looks at the clock, even with no boundary near: a wall
clock jump is noticed (and audited) within this, and a new trusted time is taken into account."""
MIN_SLEEP_S = 0.05


@dataclass(frozen=True, slots=True)
class PolicyView:
    """What the shell is told of the policy, at one instant."""

    curfew: CurfewView
    apps: tuple[AppTile, ...]
    trusted_time: int | None


@dataclass(frozen=True, slots=True)
class LaunchOutcome:
    reply: LaunchReply
    refused: bool
    """True when the agent said no: the caller audits it."""
    app: str = ""
    policy_hash: str = ""
    """The policy the files were verified under ("" when no file was looked at)."""


class PolicyEnforcer:
    def __init__(
        self,
        *,
        wing: str,
        apps_dir: Path,
        trusted_keys: Mapping[str, Ed25519PublicKey],
        clock: TrustedClock,
    ) -> None:
        self.wing = wing
        self.apps_dir = apps_dir
        self.trusted_keys = trusted_keys
        self.clock = clock
        self.policy: WingPolicy | None = None
        self.policy_hash = ""
        self._schedule: Schedule | None = None
        self._pinned: tuple[WingPolicy, str] | None = None
        """The policy with its hash, replaced in one assignment (`verify` reads it in a worker)."""
        self._shown: tuple[str, bool, str, bool, int | None] | None = None
        """What the last view was computed for, and until when it holds."""
        self._web_next: int | None = None
        """When the Web app's list changes next by the clock (a grant starts or ends)."""

    def set_policy(self, policy: WingPolicy) -> None:
        self.policy = policy
        self.policy_hash = policy_hash(policy)
        self._schedule = Schedule(policy)
        self._pinned = (policy, self.policy_hash)

    def decide(self, profile: str, *, locked: bool) -> Decision | None:
        """The decision now; None without a policy. Never raises (an error yields None)."""
        if self._schedule is None:
            return None
        try:
            return self._schedule.decide(profile, self.clock.now_ms(), locked=locked)
        except Exception:  # fail closed: no policy answer means no apps
            log.exception("cannot evaluate the policy; failing closed")
            return None

    def view(self, profile: str, *, locked: bool) -> PolicyView:
        now = self.clock.now_ms()
        decision = self.decide(profile, locked=locked)
        self._shown = (profile, locked, self.policy_hash, now is not None,
                       decision.next_boundary if decision is not None else None)
        if decision is None or self.policy is None:
            return PolicyView(curfew_view(None), (), now)
        return PolicyView(curfew_view(decision), app_tiles(self.policy, decision, now), now)

    def web_sites(self, subject: Subject) -> tuple[WebSite, ...]:
        """The Web app's list now (agent.web_view); empty on any error (fail closed)."""
        now = self.clock.now_ms()
        # A grant starting or ending later changes the list then: look again at that instant.
        self._web_next = min((t for g in subject.grants for t in (g.start, g.until)
                              if now is not None and t > now), default=None)
        try:
            return web_sites(self.policy, self._schedule, subject, now)
        except Exception:
            log.exception("cannot list the web sites; listing none")
            return ()

    def due(self, profile: str, *, locked: bool) -> bool:
        """Could the view have changed since it was last computed? (Cheap: no decision.)"""
        if self._shown is None:
            return True
        shown_profile, shown_locked, shown_hash, had_time, valid_until = self._shown
        now = self.clock.now_ms()
        return (
            (shown_profile, shown_locked, shown_hash, had_time)
            != (profile, locked, self.policy_hash, now is not None)
            or (valid_until is not None and now is not None and now >= valid_until)
            or (self._web_next is not None and now is not None and now >= self._web_next)
        )

    def sleep_s(self) -> float:
        """How long the agent may wait before the view can change (bounded by MAX_SLEEP_S)."""
        now = self.clock.now_ms()
        valid_until = self._shown[4] if self._shown is not None else None
        if self._web_next is not None:
            valid_until = min(valid_until or self._web_next, self._web_next)
        if valid_until is None or now is None:
            return MAX_SLEEP_S
        return min(MAX_SLEEP_S, max(MIN_SLEEP_S, (valid_until - now) / 1000))

    def launch(self, app: str, profile: str, *, locked: bool,
               verified: LaunchOutcome | None = None) -> LaunchOutcome:
        """May `app` start now? The one launch decision: the policy at this instant, then the
        signed manifest and the files. `verified` is `verify(app)` done beforehand off the event
        loop (it hashes files); the caller must not `await` between this answer and sending it,
        so a lock or a curfew that lands meanwhile is never answered with a yes. A `verified`
        made under another policy is done again here."""
        refused = self.policy_allows(app, profile, locked=locked)
        if refused is not None:
            return refused
        if verified is None or (verified.app, verified.policy_hash) != (app, self.policy_hash):
            verified = self.verify(app)
        return verified

    def policy_allows(self, app: str, profile: str, *, locked: bool) -> LaunchOutcome | None:
        """The policy's no (an outcome to send and audit), or None when it says yes. Cheap; call
        it on the event loop (the schedule's caches are not shared across threads)."""
        decision = self.decide(profile, locked=locked)
        if decision is None or self.policy is None:
            return _no(app, "no wing policy yet")
        verdict = decision.app(app)
        if not verdict.allowed:
            nobody = profile == NOBODY and verdict.reason == f"unknown profile {NOBODY!r}"
            return _no(app, "sign in to use this app" if nobody else verdict.reason)
        return None

    def verify(self, app: str) -> LaunchOutcome:
        """The signed manifest and every file on disk, under the current policy (hashes files:
        run it in a worker)."""
        pinned = self._pinned
        if pinned is None:
            return _no(app, "no wing policy yet")
        policy, pinned_hash = pinned
        check = self.verify_files(self.apps_dir, app, policy)
        if not check.ok:
            return _no(app, check.reason, pinned_hash)
        return LaunchOutcome(LaunchReply(app=app, ok=True, reason="verified", argv=check.argv),
                             refused=False, app=app, policy_hash=pinned_hash)

    def verify_files(self, apps_root: Path, app: str, policy: WingPolicy) -> AppCheck:
        """The launch check of `app`'s build under `apps_root` (the app installer checks a
        staged build with it too). Its manifest's expiry is judged by the trusted time's floor:
        never by the system clock."""
        return verify_app(apps_root, app, policy=policy, trusted_keys=self.trusted_keys,
                          audience=wing_audience(self.wing), now_ms=self.clock.floor_ms())


def _no(app: str, reason: str, policy_hash: str = "") -> LaunchOutcome:
    return LaunchOutcome(LaunchReply(app=app[:64], ok=False, reason=reason[:300]), refused=True,
                         app=app, policy_hash=policy_hash)
