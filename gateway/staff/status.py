"""`staff status`: every tablet, online or not, locked or not (and why), versions, last seen."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from gateway.staff.client import ApiClient
from gateway.staff.output import say, short, show_json, table
from gateway.staff.params import api_option, json_option

HEADERS = ["TABLET", "CELL", "LANDING", "ONLINE", "LOCKED", "SOURCE", "REASON", "DESIRED",
           "LOCKDOWN", "IN SYNC", "LAST SEEN"]


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


@click.command()
@api_option
@json_option
def status(api_path: Path, as_json: bool) -> None:
    """Every tablet: online, locked (and why), versions, last seen."""
    tablets = ApiClient(api_path).call("GET", "/v1/tablets")
    if as_json:
        show_json(tablets)
        return
    if not tablets:
        say("no tablets registered")
        return
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
            short(lock.get("reason") or "", 30),
            _versions(t["desired"]),
            _versions(t["lockdown"]),
            "yes" if t["in_sync"] else "NO",
            ago(t["last_seen"], now),
        ])
    table(HEADERS, rows)
