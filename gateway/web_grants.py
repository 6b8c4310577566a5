"""The web allow-list at the gateway (DESIGN §8): staff's grants, and the one question the proxy
asks — may tablet T reach host H now?

The answer is `wire.webaccess.decide` over what this gateway holds: the signed wing policy, the
tablet's desired state (profile, lock), the wing lockdown, the tablet's grants (kept in memory,
written through to `web_grants`), at the gateway's clock. It is answered from memory, with no
I/O, because the proxy asks it for every connection.

Grants: a site of the catalogue, for one tablet, with a purpose, until a date (at most 90 days
ahead); a sensitive site's grant takes effect only once a different member of staff approves it.
Every grant, approval, revocation and expiry is audited with the change (`GrantBook`).
"""

from __future__ import annotations

import asyncio
import zoneinfo
from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any, Protocol

from gateway.issuer import Issue
from gateway.parts import Parts
from gateway.web_grant_book import Grant, GrantBook, GrantConflict
from wire.documents import MAX_WEB_GRANTS, DesiredState, WebGrant
from wire.policy import WingPolicy
from wire.prisoners import MAX_PERSON_WEB_GRANTS
from wire.schedule import Schedule, local_instant
from wire.webaccess import Subject, WebDecision, allowed_sites, decide


class Person(Protocol):
    """A signed-in person, as the web decision needs them."""

    @property
    def number(self) -> str: ...

    @property
    def profile(self) -> str: ...

MAX_GRANT_DAYS = 90
DAY_MS = 86_400_000
EXPIRY_POLL_S = 5.0
"""The longest the expiry clock sleeps (a grant added meanwhile is noticed by then)."""


class GrantInputError(Exception):
    """A grant that cannot be made as asked; one line for staff."""


class UnknownGrant(Exception):
    """No grant with this id."""


class WebAccess:
    def __init__(self, parts: Parts) -> None:
        self._parts = parts
        self._issuer = parts.issuer
        self._fleet = parts.fleet
        self._io = parts.io
        self._clock = parts.clock
        self._book = GrantBook(parts.store)
        self._grants: dict[tuple[str, str], list[Grant]] = {}
        for grant in self._book.listing():
            self._grants.setdefault((grant.subject_kind, grant.subject), []).append(grant)
        self.person_of: Callable[[str], Person | None] | None = None
        """Who is signed in on a tablet (gateway.prisoners), when prisoner accounts are on."""
        self.present: Callable[[str], bool] = lambda _number: False
        """Whether a prison number lives on the wing (gateway.prisoners): who may be granted."""
        self.person_changed: Callable[[str], Awaitable[object]] | None = None
        """Re-issue the tablets of a person's cell (gateway.prisoners): their grants changed."""
        self._schedule: tuple[WingPolicy, Schedule] | None = None
        self.on_change: list[Callable[[str | None], None]] = []
        """Told the subject whose access may have narrowed (None: anyone's), to re-check open
        connections at once."""

    # -- the question ----------------------------------------------------------------------

    def subject(self, device: str) -> Subject:
        """What holds for `device`: the tablet's profile and grants on a cell whose desired
        state names no occupants; where it does (prisoner accounts), the signed-in person's
        profile and grants, and no web with nobody signed in."""
        desired = self._issuer.desired.get(device)
        known = device in self._fleet.tablets and desired is not None
        lockdown = self._issuer.lockdown
        locked = (desired is not None and desired.document.lock.locked) or (
            lockdown is not None and lockdown.document.lock.locked)
        if desired is not None and desired.document.occupants.people:
            person = self.person_of(device) if self.person_of is not None else None
            if person is None:
                return Subject(known, "", bool(locked), (), signed_in=False)
            grants = tuple(g.terms() for g in self._grants.get(("prisoner", person.number), ()))
            return Subject(known, person.profile, bool(locked), grants)
        grants = tuple(g.terms() for g in self._grants.get(("tablet", device), ()))
        profile = desired.document.profile if desired is not None else ""
        return Subject(known, profile, bool(locked), grants)

    def decide(self, device: str, host: str, now: int | None = None) -> WebDecision:
        """May `device` reach `host` now (the gateway's clock)? From memory; never raises."""
        policy = self._policy()
        schedule = self._cached_schedule(policy) if policy is not None else None
        return decide(host, self.subject(device), policy, self._clock() if now is None else now,
                      schedule)

    def sites(self, device: str) -> list[dict[str, Any]]:
        """What the tablet's Web app lists now: title, purpose, until."""
        policy = self._policy()
        if policy is None:
            return []
        return [{"site": name, "title": site.title, "purpose": site.purpose,
                 "hosts": list(site.hosts), "until": until}
                for name, site, until in allowed_sites(self.subject(device), policy,
                                                       self._clock())]

    def _policy(self) -> WingPolicy | None:
        return self._issuer.policy.document if self._issuer.policy else None

    def _cached_schedule(self, policy: WingPolicy) -> Schedule:
        if self._schedule is None or self._schedule[0] is not policy:
            self._schedule = (policy, Schedule(policy))
        return self._schedule[1]

    # -- staff actions ---------------------------------------------------------------------

    async def grant(self, device: str, site: str, purpose: str, until: str, by: str,
                    who: str | None = None, kind: str = "tablet") -> dict[str, Any]:
        """Grant `site` to tablet `device` (or, `kind` "prisoner", to the person of that prison
        number, wherever they sign in) until the end of local day `until` (YYYY-MM-DD).
        `by` is recorded as who acted; `who` is their verified identity (`os:alice`,
        `console:alice`), which the second approver of a sensitive site must differ from."""
        policy = self._policy()
        if policy is None:
            raise GrantInputError("no wing policy yet: apply one first (staff policy apply)")
        if kind == "tablet" and device not in self._fleet.tablets:
            raise GrantInputError(f"no tablet {device!r} is registered on this wing")
        if kind == "prisoner" and not self.present(device):
            raise GrantInputError(f"no prisoner {device!r} lives on this wing")
        entry = policy.sites.get(site)
        if entry is None:
            known = ", ".join(sorted(policy.sites)) or "none"
            raise GrantInputError(f"no site {site!r} in the wing's catalogue (known: {known})")
        if not purpose.strip():
            raise GrantInputError("purpose: say why this tablet needs the site")
        now = self._clock()
        ends = end_of_day(until, policy.timezone)
        if ends <= now:
            raise GrantInputError(f"until: {until} has already passed")
        if ends - now > MAX_GRANT_DAYS * DAY_MS:
            raise GrantInputError(f"until: at most {MAX_GRANT_DAYS} days ahead")
        grant = await self._io(self._book.add, kind, device, site, purpose.strip(), by, now,
                               ends, entry.sensitive, who)
        self._keep(grant)
        await self.send_grants(device, kind)
        return grant.as_json(now)

    async def approve(self, grant_id: str, by: str, who: str | None = None) -> dict[str, Any]:
        now = self._clock()
        try:
            grant = await self._io(self._book.approve, grant_id, by, now, who)
        except GrantConflict as exc:
            raise GrantInputError(str(exc)) from exc
        if grant is None:
            raise UnknownGrant(f"no grant {grant_id!r}")
        self._keep(grant)
        await self.send_grants(grant.subject, grant.subject_kind)
        return grant.as_json(now)

    async def revoke(self, grant_id: str, by: str, reason: str, actor: str | None = None
                     ) -> dict[str, Any]:
        now = self._clock()
        try:
            grant = await self._io(self._book.revoke, grant_id, by, reason, now, actor)
        except GrantConflict as exc:
            raise GrantInputError(str(exc)) from exc
        if grant is None:
            raise UnknownGrant(f"no grant {grant_id!r}")
        self._keep(grant)
        self._changed(grant.subject)
        await self.send_grants(grant.subject, grant.subject_kind)
        return grant.as_json(now)

    async def revoke_subject(self, kind: str, subject: str, by: str, reason: str) -> list[str]:
        """Revoke every grant of one subject still in force (a person released or
        transferred); the grants revoked."""
        now = self._clock()
        ids = [g.id for g in self._grants.get((kind, subject), ())
               if g.state(now) not in ("revoked", "expired")]
        for grant_id in ids:
            await self.revoke(grant_id, by, reason)
        return ids

    def poke(self) -> None:
        """Who is signed in somewhere changed: open connections are checked again."""
        self._changed(None)

    def listing(self, device: str | None = None, kind: str = "tablet") -> list[dict[str, Any]]:
        now = self._clock()
        chosen = self._grants.get((kind, device), []) if device is not None else [
            g for grants in self._grants.values() for g in grants]
        return [g.as_json(now) for g in sorted(chosen, key=lambda g: int(g.id[1:]))]

    # -- what the tablet is told (its Web app lists them) -----------------------------------

    def carried(self, device: str, now: int, kind: str = "tablet") -> tuple[WebGrant, ...]:
        """The grants a signed desired state carries for tablet `device` (or, `kind`
        "prisoner", for the person of that number, in their occupant entry): in effect now or
        later (approved, unrevoked, unexpired), soonest to end first, at most
        `MAX_WEB_GRANTS` (a person: `MAX_PERSON_WEB_GRANTS`)."""
        kept = sorted((g for g in self._grants.get((kind, device), ())
                       if g.approved and g.revoked_at is None and g.until > now),
                      key=lambda g: (g.until, g.id))
        most = MAX_WEB_GRANTS if kind == "tablet" else MAX_PERSON_WEB_GRANTS
        return tuple(WebGrant(id=g.id, site=g.site, start=g.start, until=g.until)
                     for g in kept[:most])

    async def send_grants(self, device: str, kind: str = "tablet") -> None:
        """A new desired version for `device` when what it carries of its grants changed (the
        gateway still decides every connection itself: this is what its Web app lists). For a
        person (`kind` "prisoner"), their cell's tablets are re-issued with the grants in
        their occupant entry (`person_changed`: gateway.prisoners)."""
        if kind != "tablet":
            if self.person_changed is not None:
                await self.person_changed(device)
            return
        now = self._clock()
        grants = self.carried(device, now)
        current = self._issuer.desired.get(device)
        if current is None or current.document.web_grants == grants:
            return

        def plan() -> Issue:
            revised = self._issuer.revision(device, now, self._fleet.reported_desired(device))
            return Issue(desired=[DesiredState.model_validate(
                revised.model_copy(update={"web_grants": grants}).model_dump())])

        await self._issuer.issue(plan)
        await self._parts.publisher.desired(device)

    def _keep(self, grant: Grant) -> None:
        kept = self._grants.setdefault((grant.subject_kind, grant.subject), [])
        kept[:] = [g for g in kept if g.id != grant.id] + [grant]

    def _changed(self, subject: str | None) -> None:
        for listener in self.on_change:
            listener(subject)

    # -- the expiry clock ------------------------------------------------------------------

    async def expire_due(self) -> list[str]:
        """Audit the grants that have expired (once each) and say so to listeners."""
        expired = await self._io(self._book.expire, self._clock())
        for grant in expired:
            self._keep(grant)
            self._changed(grant.subject)
        for kind, subject in sorted({(g.subject_kind, g.subject) for g in expired}):
            await self.send_grants(subject, kind)
        return [g.id for g in expired]

    async def run(self) -> None:
        while True:
            await self.expire_due()
            due = await self._io(self._book.next_expiry)
            wait = EXPIRY_POLL_S if due is None else (due - self._clock()) / 1000
            await asyncio.sleep(min(max(wait, 0.05), EXPIRY_POLL_S))


def end_of_day(text: str, timezone: str) -> int:
    """The instant local day `text` (YYYY-MM-DD) ends in `timezone`: a grant "until 20 December"
    holds all of 20 December."""
    try:
        day = date.fromisoformat(text)
        return local_instant(zoneinfo.ZoneInfo(timezone), day + timedelta(days=1), 0)
    except ValueError as exc:
        raise GrantInputError(f"until: {text!r} is not a date YYYY-MM-DD") from exc
    except OverflowError as exc:  # 9999-12-31: the day after it is no date
        raise GrantInputError(f"until: at most {MAX_GRANT_DAYS} days ahead") from exc
