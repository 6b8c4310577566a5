"""The Web app's rules, no Kivy: what each listed site says ("Find a job — Jobs — until 20
December"), the blocked screen's words for the gateway's reason, the request "Ask for this site"
files, and the one call that asks the agent to open a site.

The agent lists the sites (from the same pure decision the gateway uses, `wire.webaccess`) and
answers an open with the kiosk browser's command line, pointed at its forwarder; the shell starts
it like any app (`device.launcher`), so a lock, curfew or lockdown closes it like any app.
"""

from __future__ import annotations

import gettext
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from device.i18n import N_
from device.view import ENGLISH, clock_text, zone

if TYPE_CHECKING:  # the shell draws its first frame before it imports pydantic
    from wire.localapi import LaunchReply

ASK_TIMEOUT_S = 5.0
DAY_MS = 86_400_000
APP_ID = "web"
"""The running browser's id in the shell (no external app may be called that: it is the
shell's own)."""

PURPOSES: dict[str, tuple[str, str]] = {
    "housing": (N_("Housing"), "home"),
    "jobs": (N_("Jobs"), "briefcase"),
    "benefits": (N_("Benefits"), "basket"),
    "id": (N_("ID documents"), "people"),
    "banking": (N_("Banking"), "basket"),
    "legal": (N_("Legal help"), "envelope"),
    "education": (N_("Education"), "book"),
}
"""purpose -> (label msgid, icon)"""

CLOSED_REASONS = frozenset({"locked", "curfew", "lockdown"})
"""Refusals because the whole tablet is closed: its lock or curfew screen says so."""

MONTHS = (
    N_("{day} January"), N_("{day} February"), N_("{day} March"), N_("{day} April"),
    N_("{day} May"), N_("{day} June"), N_("{day} July"), N_("{day} August"),
    N_("{day} September"), N_("{day} October"), N_("{day} November"), N_("{day} December"),
)


def purpose_label(purpose: str, t: gettext.NullTranslations = ENGLISH) -> str:
    label = PURPOSES.get(purpose, (N_("Other"), "app"))[0]
    return t.gettext(label)


def purpose_icon(purpose: str) -> str:
    return PURPOSES.get(purpose, ("", "app"))[1]


def until_text(until: int | None, now_ms: int | None, timezone: str | None,
               t: gettext.NullTranslations = ENGLISH) -> str:
    """'until 22:00' when it ends within a day at a time of day (the next curfew), 'until 20
    December' otherwise (a grant's last day: the gateway's expiry is the end of that local day,
    so the day shown is the one before the instant it ends); '' when not known."""
    if until is None:
        return ""
    end = datetime.fromtimestamp(until / 1000, tz=UTC).astimezone(zone(timezone))
    at_midnight = (end.hour, end.minute, end.second) == (0, 0, 0)
    if now_ms is not None and until - now_ms < DAY_MS and not at_midnight:
        return t.gettext("until {time}").format(time=clock_text(until, timezone))
    last = datetime.fromtimestamp((until - 1) / 1000, tz=UTC).astimezone(zone(timezone))
    day = t.gettext(MONTHS[last.month - 1]).format(day=last.day)
    return t.gettext("until {date}").format(date=day)


def blocked_title(reason: str, t: gettext.NullTranslations = ENGLISH) -> str:
    """The blocked screen's heading, in plain words: never the gateway's code."""
    if reason in ("proxy_unreachable", "refused"):
        return t.gettext("The internet is not working right now")
    if reason in CLOSED_REASONS:
        return t.gettext("The internet is closed right now")
    return t.gettext("This site is not on your list")


def blocked_detail(reason: str, host: str, t: gettext.NullTranslations = ENGLISH) -> str:
    if reason in ("proxy_unreachable", "refused"):
        return t.gettext("Please try again later.")
    if reason in CLOSED_REASONS:
        return t.gettext("You can use the sites on your list again when the tablet opens.")
    if not host:
        return t.gettext("This address cannot be opened on the tablet.")
    return t.gettext("You can ask staff to add {host} to your list.").format(host=host)


def may_ask(reason: str, host: str) -> bool:
    """"Ask for this site" is offered only for a named site that is simply not on the list."""
    return bool(host) and reason not in ("proxy_unreachable", "refused", *CLOSED_REASONS)


def ask_text(host: str) -> str:
    """The request staff receive (in English: staff read it; the host is a checked name)."""
    return f"Please add this website to my list: {host}"


def open_site(socket_path: Path | str, site: str, timeout: float = ASK_TIMEOUT_S) -> LaunchReply:
    """The agent's answer to opening `site`; any failure is a no."""
    from device.agent_link import AgentRefused, ask_once
    from wire.localapi import LaunchReply, WebOpenRequest

    try:
        request = WebOpenRequest(op="web", site=site)
    except ValueError:
        return LaunchReply(app=APP_ID, ok=False, reason="not a site name")
    try:
        message = ask_once(socket_path, request, LaunchReply, timeout)
    except AgentRefused as exc:
        return LaunchReply(app=APP_ID, ok=False, reason=str(exc))
    if message.app != APP_ID:
        return LaunchReply(app=APP_ID, ok=False, reason="agent answered for an app")
    if message.ok and (not message.argv or not os.path.isabs(message.argv[0])):
        return LaunchReply(app=APP_ID, ok=False, reason="agent's yes carried no absolute command")
    return message
