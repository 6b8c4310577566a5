"""May tablet T reach host H now? The web gateway's one decision. Pure.

`decide(host, Subject(...), now_ms)` opens no file or socket and reads no clock: the gateway passes
what it holds (the wing policy, the tablet's profile and lock, its grants) and its trusted time.
It fails closed: no policy, no time, an unknown tablet, a name that is not a name → deny.

Precedence: the host must be a name (not an IP literal); the tablet must be known; then a lock
(the tablet's own or the wing's), a lockdown and a curfew deny everything (the web is not among
the always-allowed); then the host must fall under a site the tablet's profile allows or a grant
that is live now (started, not expired, not revoked, approved if the site is sensitive).

An allowed answer says until when it holds (`until`: a grant's expiry or the next schedule
boundary), so the gateway can cut a tunnel when its answer runs out.
"""

from __future__ import annotations

from dataclasses import dataclass

from wire.hostnames import HostError, matches, normalise_host
from wire.policy import Site, WingPolicy
from wire.schedule import Schedule


@dataclass(frozen=True, slots=True)
class GrantTerms:
    """One grant as the decision sees it (the gateway keeps who granted it and why)."""

    id: str
    site: str
    start: int
    until: int
    approved: bool
    """Takes effect: not sensitive, or a second member of staff approved it."""
    revoked: bool = False

    def live(self, now_ms: int) -> bool:
        return self.approved and not self.revoked and self.start <= now_ms < self.until


@dataclass(frozen=True, slots=True)
class Subject:
    """Who asks and what holds for it: a tablet (its profile and grants), or on a tablet whose
    desired state names occupants, the person signed in on it (their profile and grants)."""

    known: bool
    profile: str
    locked: bool
    grants: tuple[GrantTerms, ...] = ()
    signed_in: bool = True
    """False on a tablet of prisoner accounts with nobody signed in: no web at all."""


@dataclass(frozen=True, slots=True)
class WebDecision:
    allowed: bool
    reason: str
    """A short code: `profile:SITE` or `grant:ID` when allowed; else why not (`not_listed`,
    `locked`, `nobody_signed_in`, `curfew`, `lockdown`, `ip_literal`, `bad_host`,
    `unknown_tablet`, `no_policy`, `no_time`)."""
    host: str = ""
    site: str = ""
    until: int | None = None
    """While allowed: the answer holds until this instant at most (None: no bound known)."""


def decide(host: str, subject: Subject, policy: WingPolicy | None, now_ms: int | None,
           schedule: Schedule | None = None) -> WebDecision:
    """The answer for `host` asked by `subject` at trusted time `now_ms`; never raises.

    `schedule` is `Schedule(policy)`, passed in so a caller deciding many requests builds (and
    caches) it once."""
    try:
        name = normalise_host(host)
    except HostError as exc:
        return WebDecision(False, exc.reason)
    if not subject.known:
        return WebDecision(False, "unknown_tablet", name)
    if policy is None:
        return WebDecision(False, "no_policy", name)
    if now_ms is None:
        return WebDecision(False, "no_time", name)
    if subject.locked:
        return WebDecision(False, "locked", name)
    if not subject.signed_in:
        return WebDecision(False, "nobody_signed_in", name)
    segment = (schedule or Schedule(policy)).segment_at(now_ms)
    if segment.kind != "open":
        return WebDecision(False, segment.kind, name)
    bound = segment.end  # the regime may change there: decide again then
    covering = _sites_covering(policy, name)
    profile = policy.profiles.get(subject.profile)
    for site_name in profile.sites if profile else ():
        if site_name in covering:
            return WebDecision(True, f"profile:{site_name}", name, site_name, bound)
    for grant in subject.grants:
        if grant.site in covering and grant.live(now_ms):
            until = grant.until if bound is None else min(bound, grant.until)
            return WebDecision(True, f"grant:{grant.id}", name, grant.site, until)
    return WebDecision(False, "not_listed", name)


def allowed_sites(subject: Subject, policy: WingPolicy, now_ms: int
                  ) -> list[tuple[str, Site, int | None]]:
    """The sites `subject` may use now (name, site, until: a grant's expiry or None), profile
    sites first: what the Web app lists; nothing with nobody signed in (a tablet of prisoner
    accounts). Lock, curfew and lockdown are the caller's to show."""
    if not subject.signed_in:
        return []
    profile = policy.profiles.get(subject.profile)
    listed: dict[str, int | None] = dict.fromkeys(profile.sites if profile else ())
    for grant in subject.grants:
        if grant.live(now_ms) and grant.site not in listed:
            listed[grant.site] = grant.until
        elif grant.live(now_ms) and listed[grant.site] is not None:
            listed[grant.site] = max(grant.until, listed[grant.site] or 0)
    return [(name, policy.sites[name], until) for name, until in listed.items()
            if name in policy.sites]


def _under(host: str, site: Site) -> bool:
    return any(matches(host, pattern) for pattern in site.hosts)


_COVERING_MAX = 4096
_covering: dict[int, tuple[WingPolicy, dict[str, frozenset[str]]]] = {}


def _sites_covering(policy: WingPolicy, host: str) -> frozenset[str]:
    """The catalogue sites whose patterns cover normalised `host`, remembered per policy (the
    proxy asks about the same few hosts again and again under one policy)."""
    held = _covering.get(id(policy))
    if held is None or held[0] is not policy:
        _covering.clear()  # one policy in force at a time: drop the last one's answers
        held = _covering[id(policy)] = (policy, {})
    known = held[1]
    found = known.get(host)
    if found is None:
        found = frozenset(n for n, site in policy.sites.items() if _under(host, site))
        if len(known) >= _COVERING_MAX:
            known.clear()
        known[host] = found
    return found

