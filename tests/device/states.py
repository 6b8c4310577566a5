"""ShellState values for the shell's tests (the agent's messages, as data)."""

from __future__ import annotations

from typing import Any

from wire.documents import LockView
from wire.localapi import (
    AppTile,
    CurfewView,
    OccupantView,
    PersonView,
    ShellState,
    UpdateView,
    WebBlocked,
    WebSite,
    WebView,
)
from wire.prisoners import Settings
from wire.schedule import utc_ms

NOW = 1_780_000_000_000  # a fixed trusted time (ms)
LISTENER = AppTile(id="listener", name="Listener line", names={"pl": "Linia Listener"},
                   icon="phone", allowed_now=True, always_allowed=True)
CALCULATOR = AppTile(id="calculator", name="Calculator", names={"pl": "Kalkulator"},
                     icon="app", allowed_now=True)
GAMES = AppTile(id="games", name="Games", names={"pl": "Gry"}, icon="puzzle", allowed_now=False)


def state(**changes: object) -> ShellState:
    base = ShellState(
        device="t-0001",
        locked=False,
        lock=LockView(locked=False),
        connected=True,
        profile="standard",
        trusted_time=NOW,
        timezone="Europe/London",
        curfew=CurfewView(state="open", starts_at=NOW + 3 * 3600_000),
        apps=(LISTENER, CALCULATOR, GAMES),
    )
    return base.model_copy(update=changes)


def locked(reason: str = "Cell search in progress", source: str = "device") -> ShellState:
    return state(
        locked=True,
        lock=LockView(locked=True, source=source, by="officer", reason=reason, since=NOW),
    )


def curfew_now() -> ShellState:
    return state(
        curfew=CurfewView(state="curfew", starts_at=NOW - 60_000, ends_at=NOW + 8 * 3600_000)
    )


def curfew_warning(minutes: int = 14) -> ShellState:
    return state(
        curfew=CurfewView(state="warning", starts_at=NOW + minutes * 60_000, minutes_left=minutes)
    )


def updating(progress: int = 40) -> ShellState:
    return state(update=UpdateView(state="installing", progress=progress))


END_OF_20_DECEMBER = utc_ms("2026-12-21T00:00Z")  # a grant until 2026-12-20 (London: GMT)
WEB_SITES = (
    WebSite(site="find-a-job", title="Find a job", purpose="jobs", until=NOW + 3 * 3600_000),
    WebSite(site="council-housing", title="Apply for council housing", purpose="housing",
            until=END_OF_20_DECEMBER),
    WebSite(site="universal-credit", title="Universal Credit account", purpose="benefits",
            until=END_OF_20_DECEMBER),
)


def web(sites: tuple[WebSite, ...] = WEB_SITES) -> ShellState:
    return state(web=WebView(available=True, sites=sites))


def web_blocked(host: str = "www.facebook.com", reason: str = "not_listed",
                at: int = NOW) -> ShellState:
    return state(web=WebView(available=True, sites=WEB_SITES,
                             blocked=WebBlocked(host=host, reason=reason, at=at)))
OCCUPANTS = (OccupantView(number="A1234BC", display="John S."),
             OccupantView(number="B2345CD", display="Anna K."))


def signed_in(shell: Any, must_set_pin: bool = False) -> PersonView:
    """John, signed in, with the settings the shell shows now (a screenshot keeps its language
    and text size)."""
    settings = Settings(language=shell.app.language, text_scale=round(shell.app.text_scale * 100),
                        theme=shell.app.palette.name)
    return PersonView(number="A1234BC", display="John S.", settings=settings,
                      must_set_pin=must_set_pin)
