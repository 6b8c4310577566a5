"""`staff status`: the gateway's broker link (and its alarms), where the wing's curfew stands now,
then every tablet: online or not, locked or not (by whom and why), its profile, who is signed in
(the prison number it reports), OS and document versions, last seen.

While the gateway has no broker session it cannot know who is online: the table says so above it,
ONLINE shows `unknown` (`online: null` in --json) and LAST SEEN is what is known."""

from __future__ import annotations

import time
import zoneinfo
from pathlib import Path
from typing import Any

import click

from common.staff_output import say, short, show_json, table
from gateway.staff.client import ApiClient
from gateway.staff.curfew_words import now_in_words
from gateway.staff.params import api_option, json_option

HEADERS = ["TABLET", "CELL", "LANDING", "ONLINE", "LOCKED", "SOURCE", "BY", "REASON", "PROFILE",
           "SIGNED IN", "OS", "DESIRED", "LOCKDOWN", "IN SYNC", "LAST SEEN"]


def ago(ms: int | None, now_ms: int) -> str:
    """How long before `now_ms` the moment `ms` was, in the largest unit that reads well."""
    if ms is None:
        return "never"
    seconds = max(0, (now_ms - ms) // 1000)
    if seconds < 120:
        return f"{seconds}s ago"
    if seconds < 7200:
        return f"{seconds // 60}m ago"
    if seconds < 172800:
        return f"{seconds // 3600}h ago"
    return f"{seconds // 86400}d ago"


def _versions(state: dict[str, Any]) -> str:
    reported = state["reported_version"]
    return f"{reported if reported is not None else '-'}/{state['version']}"


def broker_lines(broker: dict[str, Any] | None, now_ms: int) -> list[str]:
    """The lines above the table: nothing while the link is up and nothing is alarmed."""
    if broker is None:
        return []
    lines = [f"ALARM {alarm}" for alarm in broker.get("alarms") or []]
    if not broker.get("connected"):
        since = broker.get("disconnected_since")
        lines.append(f"BROKER DISCONNECTED since {_when(since)} ({ago(since, now_ms)}): who is "
                     "online is unknown; LAST SEEN is when each tablet was last heard")
    return lines


def _when(ms: int | None) -> str:
    if ms is None:
        return "start"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ms / 1000))


def _online(online: bool | None) -> str:
    return "unknown" if online is None else "online" if online else "offline"


def schedule_now(client: ApiClient) -> tuple[dict[str, Any] | None, str]:
    """The gateway's decision for now (None before any wing policy) and where the wing's curfew
    stands, in words (`staff policy curfew status` has more)."""
    answer = client.call("GET", "/v1/policy/decision", missing_ok=True)
    if answer is None:
        return None, "Curfew: no wing policy applied yet."
    policy = client.call("GET", "/v1/policy")["rules"]
    return answer, now_in_words(answer, zoneinfo.ZoneInfo(policy["timezone"]))


@click.command()
@api_option
@json_option
def status(api_path: Path, as_json: bool) -> None:
    """The broker link, whether the wing is in curfew now, then every tablet: online, locked (by
    whom and why), profile, who is signed in, OS and document versions, last seen."""
    client = ApiClient(api_path)
    broker = client.call("GET", "/v1/health").get("broker")
    tablets = client.call("GET", "/v1/tablets")
    if as_json:
        show_json({"broker": broker, "tablets": tablets})
        return
    now = time.time_ns() // 1_000_000
    for line in broker_lines(broker, now):
        say(line)
    say(schedule_now(client)[1])
    if not tablets:
        say("no tablets registered")
        return
    running = {t["id"]: (t["reported"] or {}).get("running")
               for t in client.call("GET", "/v1/updates")["tablets"]}
    rows = []
    for t in tablets:
        lock = t["lock"] or {}
        locked = "?" if t["locked"] is None else "LOCKED" if t["locked"] else "no"
        rows.append([
            t["id"], t["cell"], t["landing"],
            _online(t["online"]),
            locked,
            lock.get("source") or "",
            short(lock.get("by") or "", 16),
            short(lock.get("reason") or "", 30),
            t.get("profile") or "-",
            t.get("signed_in") or "-",
            running.get(t["id"]) or "?",
            _versions(t["desired"]),
            _versions(t["lockdown"]),
            "yes" if t["in_sync"] else "NO",
            ago(t["last_seen"], now),
        ])
    table(HEADERS, rows)
