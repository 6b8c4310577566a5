"""`staff status`: every tablet, online or not, locked or not (and why), versions, last seen."""

from __future__ import annotations

import time
import zoneinfo
from pathlib import Path
from typing import Any

import click

from gateway.staff.client import ApiClient
from gateway.staff.curfew_words import now_in_words
from gateway.staff.output import say, short, show_json, table
from gateway.staff.params import api_option, json_option

HEADERS = ["TABLET", "CELL", "LANDING", "ONLINE", "LOCKED", "SOURCE", "BY", "REASON", "PROFILE",
           "OS", "DESIRED", "LOCKDOWN", "IN SYNC", "LAST SEEN"]


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


def curfew_now(client: ApiClient) -> str:
    """Where the wing's curfew stands now, in words (`staff policy curfew status` has more)."""
    answer = client.call("GET", "/v1/policy/decision", missing_ok=True)
    if answer is None:
        return "Curfew: no wing policy applied yet."
    policy = client.call("GET", "/v1/policy")["rules"]
    return now_in_words(answer, zoneinfo.ZoneInfo(policy["timezone"]))


@click.command()
@api_option
@json_option
def status(api_path: Path, as_json: bool) -> None:
    """Every tablet: online, locked (by whom and why), profile, OS and document versions, last
    seen; and above them whether the wing is in curfew now."""
    client = ApiClient(api_path)
    tablets = client.call("GET", "/v1/tablets")
    if as_json:
        show_json(tablets)
        return
    say(curfew_now(client))
    if not tablets:
        say("no tablets registered")
        return
    running = {t["id"]: (t["reported"] or {}).get("running")
               for t in client.call("GET", "/v1/updates")["tablets"]}
    now = time.time_ns() // 1_000_000
    rows = []
    for t in tablets:
        lock = t["lock"] or {}
        locked = "?" if t["locked"] is None else "LOCKED" if t["locked"] else "no"
        rows.append([
            t["id"], t["cell"], t["landing"],
            "online" if t["online"] else "offline",
            locked,
            lock.get("source") or "",
            short(lock.get("by") or "", 16),
            short(lock.get("reason") or "", 30),
            t.get("profile") or "-",
            running.get(t["id"]) or "?",
            _versions(t["desired"]),
            _versions(t["lockdown"]),
            "yes" if t["in_sync"] else "NO",
            ago(t["last_seen"], now),
        ])
    table(HEADERS, rows)
