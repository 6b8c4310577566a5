"""What the shell's Web app is shown, and the browser's command line. Pure.

The list comes from the same pure code the gateway decides with (`wire.webaccess`): the sites of
the tablet's profile and of its grants live now (carried in its signed desired state) — or, on a
tablet of prisoner accounts, of the signed-in person's profile and grants (carried in their
occupant entry), and nothing with nobody signed in — and nothing while it is locked, in curfew
or in a lockdown. The gateway still decides every connection: the
list is what the prisoner is offered, not what the tablet enforces.
"""

from __future__ import annotations

from collections.abc import Sequence

from wire.documents import DesiredState, WebGrant
from wire.localapi import WebSite
from wire.policy import Site, WingPolicy
from wire.schedule import Schedule
from wire.webaccess import GrantTerms, Subject, allowed_sites


def subject_of(desired: DesiredState | None, profile: str, *, locked: bool,
               person: str | None = None) -> Subject:
    """Who the Web app lists for, as `wire.webaccess` sees it (the gateway decides by the same
    subject): on a tablet whose desired state names no occupants, the tablet (`profile` and the
    grants it carries); where it names occupants (prisoner accounts), the person signed in
    (`person`, a prison number; None: nobody) with their own profile and grants, and nobody
    signed in lists nothing. Carried grants are in effect: the gateway sends only approved,
    unrevoked ones."""
    if desired is not None and desired.occupants.people:
        occupant = next((p for p in desired.occupants.people if p.number == person), None)
        if person is None or occupant is None:
            return Subject(known=True, profile="", locked=locked, signed_in=False)
        return Subject(known=True, profile=occupant.profile, locked=locked,
                       grants=_terms(occupant.web_grants))
    grants = _terms(desired.web_grants) if desired is not None else ()
    return Subject(known=desired is not None, profile=profile, locked=locked, grants=grants)


def _terms(grants: Sequence[WebGrant]) -> tuple[GrantTerms, ...]:
    return tuple(GrantTerms(g.id, g.site, g.start, g.until, approved=True) for g in grants)


def web_sites(policy: WingPolicy | None, schedule: Schedule | None, subject: Subject,
              now_ms: int | None) -> tuple[WebSite, ...]:
    """The sites the tablet may use now, each with until when: a granted site until the grant's
    expiry (its last day is what the prisoner needs to know: each curfew closes the Web app like
    any app, with the shell's warning), a profile's site until the end of this open stretch (the
    next curfew). Empty whenever the gateway would refuse everything (no policy, no trusted time,
    locked, curfew, lockdown)."""
    if policy is None or schedule is None or now_ms is None or not subject.known:
        return ()
    if subject.locked:
        return ()
    segment = schedule.segment_at(now_ms)
    if segment.kind != "open":
        return ()
    listed = []
    for name, site, until in allowed_sites(subject, policy, now_ms):
        ends = segment.end if until is None else until
        listed.append(WebSite(site=name, title=site.title, purpose=site.purpose, until=ends))
    return tuple(listed)


def start_url(site: Site) -> str:
    """Where the browser opens a site: its first exact host, else `www.` under its first
    suffix (`*.open.edu` → `https://www.open.edu/`)."""
    exact = [h for h in site.hosts if not h.startswith("*.")]
    host = exact[0] if exact else "www." + site.hosts[0][2:]
    return f"https://{host}/"


def browser_argv(template: Sequence[str], *, url: str, proxy_port: int) -> tuple[str, ...]:
    """The configured browser command with `{url}`, `{proxy}` (`http://127.0.0.1:PORT`, the
    forwarder) and `{port}` filled in. Only those three: anything else in braces stays as is."""
    proxy = f"http://127.0.0.1:{proxy_port}"
    return tuple(part.replace("{url}", url).replace("{proxy}", proxy)
                 .replace("{port}", str(proxy_port)) for part in template)
