"""`staff policy curfew status` in words: is the wing in curfew now, until when, and when the next
curfew is — from the gateway's decision (`GET /v1/policy/decision`), with times in the prison's
time zone and "today"/"tomorrow" where they read better than a date."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from typing import Any

CLOSED = ("curfew", "lockdown")


def moment(ms: int, now_ms: int, tz: zoneinfo.ZoneInfo) -> str:
    """`ms` as staff say it: "today 21:30", "tomorrow 07:00", or "Thu 24 Dec 21:30"."""
    when = dt.datetime.fromtimestamp(ms / 1000, tz)
    days = (when.date() - dt.datetime.fromtimestamp(now_ms / 1000, tz).date()).days
    clock = when.strftime("%H:%M")
    if days == 0:
        return f"today {clock}"
    if days == 1:
        return f"tomorrow {clock}"
    return when.strftime("%a %d %b %H:%M")


def _named(label: str, state: str) -> str:
    return "" if label in (state, "open", "curfew") else f" ({label})"


def now_in_words(answer: Mapping[str, Any], tz: zoneinfo.ZoneInfo) -> str:
    """One sentence: where the wing stands now and until when."""
    state, label, now = answer["state"], answer["label"], answer["at"]
    ends, starts = answer["ends_at"], answer["starts_at"]
    if state == "unknown":
        return ("Unknown: the gateway has no trusted time, so tablets allow only the "
                "always-allowed apps.")
    if state in CLOSED:
        what = "in curfew" if state == "curfew" else "in a lockdown"
        until = f"until {moment(ends, now, tz)}" if ends is not None else "with no end planned"
        return f"The wing is {what} now{_named(label, state)}, {until}."
    named = _named(label, state)
    if state not in ("open", "warning"):  # a state this client does not know: shown as is
        return f"The gateway says the wing is {state!r}{named}."
    if starts is None:
        return f"The wing is open now{named}: no curfew is planned."
    soon = ", closing soon" if state == "warning" else ""
    return f"The wing is open now{named}{soon}, until {moment(starts, now, tz)}."


def next_in_words(answer: Mapping[str, Any], tz: zoneinfo.ZoneInfo, now_ms: int) -> str:
    """One sentence about the closed stretch `answer` describes as coming (asked for at or after
    the current one's end)."""
    starts, ends = answer["starts_at"], answer["ends_at"]
    if answer["state"] in CLOSED:  # a closed stretch right after another: report it as next
        starts = answer["at"]
    if starts is None:
        return "Next curfew: none planned."
    until = f" until {moment(ends, now_ms, tz)}" if ends is not None else ""
    kind = "lockdown" if answer["state"] == "lockdown" else "curfew"
    named = _named(answer["label"], answer["state"])
    return f"Next {kind}{named}: from {moment(starts, now_ms, tz)}{until}."
