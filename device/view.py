"""What the shell shows for a `ShellState`: pure view-model rules, testable without Kivy.

The agent is the only source of truth; this module decides which screen wins (lock over curfew
over updating over what the prisoner was doing), the banner and status-bar texts, and which app
tiles each screen may offer. Texts go through the gettext catalogue `t` (English by default).
"""

from __future__ import annotations

import gettext
import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

from device.accounts import account_screen
from device.i18n import N_

if TYPE_CHECKING:  # the shell draws its first frame before it imports pydantic
    from wire.localapi import AppTile, ShellState

ENGLISH = gettext.NullTranslations()

ForcedScreen = Literal["lock", "curfew", "updating"]

UPDATE_BLOCKING_STATES = frozenset({"installing", "rebooting"})
"""Update steps during which the tablet cannot be used: the shell shows the updating screen."""

UPDATE_QUIET_STATES = frozenset({"idle", "committed", ""})
"""Update steps not worth mentioning in the status bar."""


def forced_screen(state: ShellState) -> ForcedScreen | None:
    """The screen the state imposes, or None when the prisoner may use the tablet.

    Lock beats everything; curfew (and an unknown curfew state: no policy or no trusted time yet,
    which the agent enforces as curfew) beats an update; an update only while it blocks use.
    """
    if state.locked or state.lock.locked:
        return "lock"
    if state.curfew.state in ("curfew", "unknown"):
        return "curfew"
    if state.update.state in UPDATE_BLOCKING_STATES:
        return "updating"
    return None


def closes_open_apps(before: ForcedScreen | None, now: ForcedScreen | None) -> bool:
    """A lock, curfew or blocking update that has just begun closes whatever app is open, even
    one the new state still allows (an always-allowed app): the prisoner must see the screen
    that says what happened. An app opened afterwards from that screen's own tiles stays."""
    return now is not None and now != before


def screen_for(state: ShellState, user_screen: str) -> str:
    """The screen to show: the imposed one, else sign-in (`device.accounts`), else where the
    prisoner was."""
    return forced_screen(state) or account_screen(state, user_screen) or user_screen


def app_name(tile: AppTile, language: str = "en") -> str:
    """The app's name in `language` as policy gives it (`AppTile.names`), else its English one."""
    return str(getattr(tile, "names", {}).get(language) or tile.name)


def localised(tile: AppTile, language: str) -> AppTile:
    """`tile` carrying its name in `language` (the tile itself when that is its name already)."""
    name = app_name(tile, language)
    return tile if name == tile.name else tile.model_copy(update={"name": name})


def home_tiles(state: ShellState, language: str = "en") -> tuple[AppTile, ...]:
    """External apps the home screen offers: only those the agent would allow right now."""
    return tuple(localised(app, language) for app in state.apps if app.allowed_now)


def restricted_tiles(state: ShellState, language: str = "en") -> tuple[AppTile, ...]:
    """Apps offered on the lock and curfew screens: only those policy names always-allowed."""
    return tuple(localised(app, language) for app in state.apps
                 if app.always_allowed and app.allowed_now)


def format_minutes(minutes: int, t: gettext.NullTranslations = ENGLISH) -> str:
    """'1 minute', '14 minutes', '1 hour 5 minutes', '3 hours', with the language's plurals."""
    minutes = max(0, minutes)
    hours, mins = divmod(minutes, 60)
    parts = []
    if hours:
        parts.append(t.ngettext("{n} hour", "{n} hours", hours).format(n=hours))
    if mins or not hours:
        parts.append(t.ngettext("{n} minute", "{n} minutes", mins).format(n=mins))
    return " ".join(parts)


def minutes_until(at_ms: int, now_ms: int) -> int:
    """Whole minutes from now until `at_ms`, rounded up (a curfew 30 s away is '1 minute')."""
    return max(0, -(-(at_ms - now_ms) // 60_000))


@lru_cache(maxsize=8)
def zone(name: str | None) -> tzinfo:
    """The wing's zone; UTC before the agent has a policy to name it (or for a name this
    tablet's zone database does not know)."""
    if not name:
        return UTC
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return UTC


def clock_text(now_ms: int | None, timezone: str | None) -> str:
    """`now_ms` as the wall clock of the prison's time zone `timezone` (the wing policy's, which
    the agent sends in `ShellState.timezone`), or '--:--' when there is no trusted time."""
    if now_ms is None:
        return "--:--"
    local = datetime.fromtimestamp(now_ms / 1000, tz=UTC).astimezone(zone(timezone))
    return local.strftime("%H:%M")


@dataclass(frozen=True)
class Banner:
    """A warning strip: the icon and words carry the meaning, colour only repeats it."""

    kind: Literal["warning", "info"]
    icon: str
    text: str


def banner(
    state: ShellState,
    now_ms: int | None,
    t: gettext.NullTranslations = ENGLISH,
    running_app: str | None = None,
    language: str = "en",
) -> Banner | None:
    """The warning banner, if any: the running app about to be closed, curfew soon (15/5/1
    minutes), or an update about to restart."""
    if forced_screen(state) is not None:
        return None
    closing = next((a for a in state.apps if a.id == running_app), None)
    closes_at = getattr(closing, "closes_at", None)  # set by the agent within the warning period
    if closing is not None and closes_at is not None and now_ms is not None:
        text = t.gettext("{name} closes in {time}.").format(
            name=app_name(closing, language),
            time=format_minutes(minutes_until(closes_at, now_ms), t),
        )
        return Banner("warning", "warning", text)
    curfew = state.curfew
    if curfew.state == "warning":
        minutes = curfew.minutes_left
        if curfew.starts_at is not None and now_ms is not None:
            minutes = minutes_until(curfew.starts_at, now_ms)
        if minutes is not None:
            text = t.gettext("Curfew starts in {time}.").format(time=format_minutes(minutes, t))
            return Banner("warning", "moon", text)
        return Banner("warning", "moon", t.gettext("Curfew starts soon."))
    if state.update.state in ("installed", "verified"):
        text = t.gettext("An update is ready. The tablet will restart soon.")
        return Banner("info", "update", text)
    return None


def curfew_status(
    state: ShellState, now_ms: int | None, t: gettext.NullTranslations = ENGLISH
) -> str:
    """Status-bar text about curfew; none while a lock, curfew or update screen covers the
    tablet (a countdown means nothing on a locked tablet, and each of those screens says its one
    message itself: the status bar does not repeat or contradict it)."""
    if forced_screen(state) is not None:  # a curfew (known or not) is a covering screen too
        return ""
    curfew = state.curfew
    minutes = curfew.minutes_left
    if curfew.starts_at is not None and now_ms is not None:
        minutes = minutes_until(curfew.starts_at, now_ms)
    if minutes is not None:
        return t.gettext("Curfew in {time}").format(time=format_minutes(minutes, t))
    return t.gettext("No curfew today")


def curfew_title(state: ShellState, t: gettext.NullTranslations = ENGLISH) -> str:
    """The curfew screen's heading: a real curfew, or the fail-closed wait for policy or time."""
    if state.curfew.state == "unknown":
        return t.gettext("The tablet is getting ready")
    return t.gettext("It is curfew. Time to rest.")


def curfew_ends_text(state: ShellState, t: gettext.NullTranslations = ENGLISH) -> str:
    """The curfew screen's 'until when' line."""
    if state.curfew.state == "unknown":
        return t.gettext("The tablet is waiting for its settings and the time from the wing.")
    if state.curfew.ends_at is None:
        return t.gettext("The tablet opens again after curfew.")
    return t.gettext("The tablet opens again at {clock}.").format(
        clock=clock_text(state.curfew.ends_at, state.timezone)
    )


def connection_status(
    state: ShellState, agent_reachable: bool, t: gettext.NullTranslations = ENGLISH
) -> tuple[str, str]:
    """(icon, text) for the link to the wing; words, not just a coloured dot. Nothing while the
    tablet is getting ready (its service starting, not answering or not set up: the fail-safe
    lock), whose screen says so in one calm sentence."""
    if not agent_reachable or state.lock.source == "failsafe":
        return "", ""
    if state.connected:
        return "linked", t.gettext("Connected")
    return "unlinked", t.gettext("Not connected")


def update_status(state: ShellState, t: gettext.NullTranslations = ENGLISH) -> str:
    """Status-bar text about updates; empty when there is nothing to say, or when a lock,
    curfew or the updating screen itself covers the tablet."""
    update = state.update
    if update.state in UPDATE_QUIET_STATES or forced_screen(state) is not None:
        return ""
    if update.state == "downloading":
        return t.gettext("Downloading update {percent}%").format(percent=update.progress)
    if update.state == "rolled_back":
        return t.gettext("Update undone")
    return t.gettext("Updating")


def lock_since_text(state: ShellState, t: gettext.NullTranslations = ENGLISH) -> str:
    """'Locked since 14:02.' when staff's order says when; empty otherwise (and for fail-safe)."""
    if state.lock.source == "failsafe" or state.lock.since <= 0:
        return ""
    return t.gettext("Locked since {clock}.").format(
        clock=clock_text(state.lock.since, state.timezone)
    )


def curfew_name(state: ShellState) -> str:
    """What policy calls this stretch when it is not a plain curfew (a lockdown's name). Only
    during a real curfew: while waiting (`unknown`) the agent's label is a technical note."""
    if state.curfew.state != "curfew":
        return ""
    label = str(getattr(state.curfew, "label", "") or "").strip()
    return "" if label.lower() in ("", "curfew") else label


RESET_REASON = "This tablet was reset"
"""`wire.localapi.RESET_REASON`, spelled here so the shell's first frame needs no pydantic."""


def is_reset(state: ShellState) -> bool:
    """Locked after a remote wipe (agent/jobs.py) until staff set the tablet up again."""
    return state.lock.source == "failsafe" and state.lock.reason.startswith(RESET_REASON)


def lock_reason_text(state: ShellState, t: gettext.NullTranslations = ENGLISH) -> str:
    """The reason staff gave, or a calm default when they gave none. A fail-safe lock (agent
    starting, unreachable, not set up, or failing) gets one calm sentence, never the technical
    detail behind it."""
    if is_reset(state):
        return t.gettext("Staff will set it up for its next user.")
    if state.lock.source == "failsafe":
        return t.gettext("Please wait a moment.")
    reason = state.lock.reason.strip()
    return reason or t.gettext("Staff have locked this tablet.")


REFUSALS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("curfew", "no trusted time"), N_("Not available during curfew.")),
    (("lockdown",), N_("Not available during a lockdown.")),
    (("the tablet is locked",), N_("Not available while the tablet is locked.")),
    (("outside its hours",), N_("{name} is not available at this time of day.")),
    (("sign in to use",), N_("Sign in to use {name}.")),
    (("not in the", "unknown profile", "not allowed", "not an app id"),
     N_("Not allowed for you.")),
    (("no wing policy",), N_("The tablet is still getting ready. Try again soon.")),
    (("no readable manifest", "manifest", "app folder", "entry ", "version ", "unlisted file",
      "missing file", "file "), N_("This app is being updated. Try again later.")),
)
"""The agent's refusal reasons (wire.schedule's decisions, agent.policy's and agent.apps'
checks), by how they begin, each with the one plain sentence the shell says for it."""
REFUSED_OTHERWISE = N_("{name} cannot start right now.")


def refusal_message(reason: str) -> str:
    """The message id (English) for the agent's technical `reason`: `REFUSALS`, else
    `REFUSED_OTHERWISE`."""
    reason = reason.strip().lower()
    for starts, message in REFUSALS:
        if reason.startswith(starts):
            return message
    return REFUSED_OTHERWISE


def refusal_text(reason: str, name: str, t: gettext.NullTranslations = ENGLISH) -> str:
    """Why an app the prisoner tapped did not start, in plain words in the shown language, from
    the agent's short technical reason. Never the technical detail itself."""
    return t.gettext(refusal_message(reason)).format(name=name)


def lock_title(state: ShellState, t: gettext.NullTranslations = ENGLISH) -> str:
    """The lock screen's heading: a tablet that is starting (or whose service is not answering:
    the fail-safe lock) says so calmly; only staff's lock says "locked"."""
    if is_reset(state):
        return t.gettext("This tablet was reset")
    if state.lock.source == "failsafe":
        return t.gettext("The tablet is getting ready")
    return t.gettext("This tablet is locked")


def lock_icon(state: ShellState) -> str:
    """A friendly sunrise while the tablet gets ready; the padlock for staff's lock."""
    return "sunrise" if state.lock.source == "failsafe" else "lock"
