"""`staff web grant | approve | revoke | list | log | check`: content control (DESIGN §8).

Grants add a catalogue site for one tablet, with a purpose and an expiry (required, at most 90
days); a sensitive site's grant waits for a second, different member of staff (`approve`). Who
grants, approves and revokes is the OS account running the command (the gateway reads it from its
socket); `--by`/`--as` are only notes kept beside it.
Exit codes as every staff command: 2 refused input or unknown grant, 3 gateway unreachable.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from common.cli import OneLineGroup, Pattern
from common.staff_output import say, show_json, table
from gateway.staff.client import ApiClient, operator
from gateway.staff.params import TEXT, api_option, by_option, json_option

SITE = Pattern("site", r"[a-z][a-z0-9_-]{0,31}", "a site's name from the wing policy's "
              "catalogue: lower case, like housing or universal-credit")


@click.group(cls=OneLineGroup)
def web() -> None:
    """Web access: grant a site to a tablet, approve, revoke, list grants, the browsing log."""


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")


def _day(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError as exc:
        raise click.BadParameter(f"{text!r} is not a date YYYY-MM-DD") from exc


def _show(grant: dict[str, Any], verb: str) -> None:
    say(f"{grant['id']} {verb}: {grant['site']} for {grant['subject']} until "
        f"{_when(grant['until'])} ({grant['state'].replace('_', ' ')})")


@web.command()
@click.option("--device", type=TEXT, default=None, metavar="ID", help="The tablet.")
@click.option("--prisoner", type=TEXT, default=None, metavar="NUMBER",
              help="Or a person (prison number): theirs wherever they sign in.")
@click.option("--site", type=SITE, required=True, metavar="NAME",
              help="A site of the wing policy's catalogue, by its name (like housing).")
@click.option("--purpose", type=TEXT, required=True, help="Why this tablet needs it.")
@click.option("--until", type=TEXT, required=True, metavar="DATE",
              help="Last day it may be used, YYYY-MM-DD (at most 90 days ahead).")
@by_option("Who grants it")
@api_option
@json_option
def grant(device: str | None, prisoner: str | None, site: str, purpose: str, until: str,
          by: str | None, api_path: Path, as_json: bool) -> None:
    """Let one tablet, or one person, reach one more site until a date."""
    if (device is None) == (prisoner is None):
        raise click.UsageError("give exactly one of --device or --prisoner")
    subject = {"device": device} if device else {"prisoner": (prisoner or "").strip().upper()}
    result = ApiClient(api_path).call("POST", "/v1/web/grants", {
        **subject, "site": site, "purpose": purpose.strip(), "until": _day(until),
        "by": by or operator()})
    if as_json:
        show_json(result)
        return
    _show(result, "granted")
    if result["state"] == "awaiting_approval":
        say(f"{result['site']} is sensitive: it takes effect once another member of staff, "
            f"as their own OS account, runs `cellbridge staff web approve {result['id']}` "
            "within 10 minutes (else it lapses)")


@web.command()
@click.argument("grant_id", metavar="GRANT", type=TEXT)
@click.option("--as", "as_name", type=TEXT, default=None, metavar="NAME",
              help="A note beside your OS account, which is who approves: it must be a "
                   "different account from the one that granted it.")
@api_option
@json_option
def approve(grant_id: str, as_name: str | None, api_path: Path, as_json: bool) -> None:
    """Approve a sensitive site's grant: it takes effect now."""
    result = ApiClient(api_path).call(
        "POST", f"/v1/web/grants/{quote(grant_id, safe='')}/approve",
        {"by": as_name or operator()})
    if as_json:
        show_json(result)
    else:
        _show(result, f"approved by {result['approved_by']}")


@web.command()
@click.argument("grant_id", metavar="GRANT", type=TEXT)
@click.option("--reason", type=TEXT, default="", help="Why (kept in the audit trail).")
@by_option("Who revokes it")
@api_option
@json_option
def revoke(grant_id: str, reason: str, by: str | None, api_path: Path, as_json: bool) -> None:
    """End a grant now; the tablet's open connections to it are cut."""
    result = ApiClient(api_path).call(
        "POST", f"/v1/web/grants/{quote(grant_id, safe='')}/revoke",
        {"by": by or operator(), "reason": reason})
    if as_json:
        show_json(result)
    else:
        _show(result, "revoked")


@web.command(name="list")
@click.option("--device", type=TEXT, default=None, metavar="ID", help="Only this tablet's.")
@click.option("--prisoner", type=TEXT, default=None, metavar="NUMBER",
              help="Only this person's.")
@api_option
@json_option
def list_grants(device: str | None, prisoner: str | None, api_path: Path, as_json: bool
                ) -> None:
    """Every grant, with its state (active, awaiting approval, expired, revoked)."""
    params = ({"prisoner": prisoner.strip().upper()} if prisoner
              else {"device": device} if device else None)
    rows = ApiClient(api_path).call("GET", "/v1/web/grants", params=params)
    if as_json:
        show_json(rows)
        return
    if not rows:
        say("no grants")
        return
    table(["grant", "for", "site", "state", "until", "granted by", "approved by", "purpose"],
          [[r["id"], r["subject"], r["site"], r["state"].replace("_", " "), _when(r["until"]),
            r["granted_by"], r["approved_by"] or "-", r["purpose"]] for r in rows])


@web.command(name="log")
@click.option("--device", type=TEXT, required=True, metavar="ID", help="The tablet.")
@click.option("--since", type=TEXT, default=None, metavar="DATE",
              help="From this day (YYYY-MM-DD) or time (YYYY-MM-DDTHH:MM); default: all kept.")
@api_option
@json_option
def log(device: str, since: str | None, api_path: Path, as_json: bool) -> None:
    """What the tablet's browser asked for: time, host, allowed or denied and why, bytes."""
    start = 0
    if since is not None:
        try:
            start = int(dt.datetime.fromisoformat(since).timestamp() * 1000)
        except ValueError as exc:
            raise click.BadParameter(f"{since!r} is not a date or time",
                                     param_hint="--since") from exc
    rows = ApiClient(api_path).call("GET", "/v1/web/log",
                                    params={"device": device, "since": start})
    if as_json:
        show_json(rows)
        return
    if not rows:
        say(f"nothing in {device}'s browsing record")
        return
    table(["time", "host", "decision", "why", "bytes"],
          [[_when(r["at"]), r["host"], "allowed" if r["allowed"] else "DENIED", r["reason"],
            str(r["bytes_in"])] for r in rows])


@web.command()
@click.option("--device", type=TEXT, required=True, metavar="ID", help="The tablet.")
@click.argument("host", type=TEXT)
@api_option
@json_option
def check(device: str, host: str, api_path: Path, as_json: bool) -> None:
    """Would this tablet reach HOST now, and why (the proxy's own decision)?"""
    result = ApiClient(api_path).call("GET", "/v1/web/decide",
                                      params={"device": device, "host": host})
    if as_json:
        show_json(result)
    else:
        verdict = "allowed" if result["allowed"] else "denied"
        say(f"{device} → {result['host']}: {verdict} ({result['reason']})")
