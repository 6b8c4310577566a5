"""What the shell's Web app is shown, and the browser's command line. Pure.

The list comes from the same pure code the gateway decides with (`wire.webaccess`): the sites of
the tablet's profile and of its grants live now (carried in its signed desired state), nothing
while it is locked, in curfew or in a lockdown. The gateway still decides every connection: the
list is what the prisoner is offered, not what the tablet enforces.
"""

from __future__ import annotations

from collections.abc import Sequence

from wire.documents import DesiredState
from wire.localapi import WebSite
from wire.policy import Site, WingPolicy
from wire.schedule import Schedule
from wire.webaccess import GrantTerms, Subject, allowed_sites


def subject_of(desired: DesiredState | None, profile: str, *, locked: bool) -> Subject:
    """The tablet as `wire.webaccess` sees it: the grants it carries are in effect (the gateway
    sends only approved, unrevoked ones)."""
    grants = tuple(GrantTerms(g.id, g.site, g.start, g.until, approved=True)
                   for g in (desired.web_grants if desired is not None else ()))
    return Subject(known=desired is not None, profile=profile, locked=locked, grants=grants)


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
