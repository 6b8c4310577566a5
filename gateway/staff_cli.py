"""`cellbridge staff`: what security staff type (DESIGN §7), a thin client of the gateway's API.

Exit codes: 0 done; 1 not every target confirmed within --wait (named on stderr), or the audit
chain does not verify; 2 usage error or refused input; 3 gateway unreachable or failing.
"""

from __future__ import annotations

import datetime as dt
import getpass
import importlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import click
import httpx

from gateway import DEFAULT_API_SOCKET

DEFAULT_API = DEFAULT_API_SOCKET
EXIT_PENDING, EXIT_REFUSED, EXIT_UNREACHABLE = 1, 2, 3


def fail(code: int, message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def operator() -> str:
    """Who is acting, as recorded in the audit trail."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


class ApiClient:
    """JSON over the gateway's Unix socket; every failure becomes an exit code and one line."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             timeout: float = 30.0, params: dict[str, Any] | None = None) -> Any:
        transport = httpx.HTTPTransport(uds=str(self.socket_path))
        try:
            with httpx.Client(transport=transport, base_url="http://gateway",
                              timeout=timeout) as client:
                response = client.request(method, path, json=body, params=params)
        except httpx.TimeoutException:
            fail(EXIT_UNREACHABLE, f"gateway at {self.socket_path} did not answer in {timeout:g}s")
        except httpx.HTTPError as exc:
            fail(EXIT_UNREACHABLE, f"gateway unreachable at {self.socket_path}: {exc}")
        try:
            data = response.json()
        except ValueError:
            data = None
        if response.status_code >= 400:
            detail = data.get("detail") if isinstance(data, dict) else None
            message = detail if isinstance(detail, str) else response.reason_phrase
            if 400 <= response.status_code < 500:
                fail(EXIT_REFUSED, message)
            fail(EXIT_UNREACHABLE, f"gateway failed ({response.status_code}): {message}")
        if data is None:
            fail(EXIT_UNREACHABLE, "gateway answered with something that is not JSON")
        return data


api_option = click.option(
    "--api", "api_path", envvar="CELLBRIDGE_GATEWAY_API", default=str(DEFAULT_API),
    show_default=True, type=click.Path(path_type=Path),
    help="The gateway's API socket (env CELLBRIDGE_GATEWAY_API).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


@click.group()
def staff() -> None:
    """Security staff commands: lock, unlock, status, audit."""


def _lock_command(locked: bool) -> click.Command:
    verb = "lock" if locked else "unlock"

    @click.command(name=verb, help=f"{verb.capitalize()} tablets: one or more by id, a cell, a "
                   "landing, or the whole wing.")
    @click.option("--device", "devices", multiple=True, metavar="ID", help="A tablet (repeatable).")
    @click.option("--cell", default=None, help="Every tablet in this cell.")
    @click.option("--landing", default=None, help="Every tablet on this landing.")
    @click.option("--wing", is_flag=True, help=f"Wing-wide {verb} (one signed document).")
    @click.option("--reason", required=True, help="Why; shown on the lock screen and audited.")
    @click.option("--wait", "wait_s", type=click.FloatRange(0, 600), default=0.0,
                  help="Wait up to S seconds for every tablet to report it applied.")
    @click.option("--by", default=None, help="Who decided (default: your user name).")
    @api_option
    @json_option
    def command(devices: tuple[str, ...], cell: str | None, landing: str | None, wing: bool,
                reason: str, wait_s: float, by: str | None, api_path: Path,
                as_json: bool) -> None:
        chosen = sum([bool(devices), cell is not None, landing is not None, wing])
        if chosen != 1:
            fail(EXIT_REFUSED, "give exactly one of --device (repeatable), --cell, --landing, "
                 "--wing")
        if not reason.strip():
            fail(EXIT_REFUSED, "--reason must not be empty")
        body: dict[str, Any] = {"locked": locked, "reason": reason.strip(),
                                "by": by or operator(), "wait_s": wait_s}
        if devices:
            body["devices"] = list(dict.fromkeys(devices))
        elif cell is not None:
            body["cell"] = cell
        elif landing is not None:
            body["landing"] = landing
        else:
            body["wing"] = True
        result = ApiClient(api_path).call("POST", "/v1/lock", body, timeout=wait_s + 30)
        targets, pending = result["targets"], result["pending"]
        if as_json:
            click.echo(json.dumps(result, indent=2))
        elif wait_s == 0:
            click.echo(f"{verb} sent to {len(targets)} tablet(s) (version {result['version']}); "
                       f"confirmed so far: {len(result['confirmed'])}")
        elif not pending:
            click.echo(f"{verb}ed: all {len(targets)} tablet(s) confirmed")
        if wait_s > 0 and pending:
            rejected = result.get("rejected") or {}
            silent = [d for d in pending if d not in rejected]
            parts = []
            if silent:
                parts.append(f"no answer within {wait_s:g}s from {', '.join(silent)}")
            if rejected:
                parts.append("refused by " + ", ".join(f"{d} ({r})" for d, r in rejected.items()))
            click.echo(f"error: not confirmed by {len(pending)} of {len(targets)}: "
                       + "; ".join(parts), err=True)
            sys.exit(EXIT_PENDING)

    return command


staff.add_command(_lock_command(True))
staff.add_command(_lock_command(False))


def _ago(ms: int | None, now_ms: int) -> str:
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


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@staff.command()
@api_option
@json_option
def status(api_path: Path, as_json: bool) -> None:
    """Every tablet: online, locked (and why), versions, last seen."""
    tablets = ApiClient(api_path).call("GET", "/v1/tablets")
    if as_json:
        click.echo(json.dumps(tablets, indent=2))
        return
    if not tablets:
        click.echo("no tablets registered")
        return
    now = time.time_ns() // 1_000_000
    rows = []
    for t in tablets:
        lock = t["lock"] or {}
        locked = "?" if t["locked"] is None else "LOCKED" if t["locked"] else "no"
        desired, lockdown = t["desired"], t["lockdown"]
        rows.append([
            t["id"], t["cell"], t["landing"],
            "online" if t["online"] else "offline",
            locked,
            lock.get("source") or "",
            _short(lock.get("reason") or "", 30),
            f"{desired['reported_version'] if desired['reported_version'] is not None else '-'}"
            f"/{desired['version']}",
            f"{lockdown['reported_version'] if lockdown['reported_version'] is not None else '-'}"
            f"/{lockdown['version']}",
            "yes" if t["in_sync"] else "NO",
            _ago(t["last_seen"], now),
        ])
    click.echo(_table(["TABLET", "CELL", "LANDING", "ONLINE", "LOCKED", "SOURCE", "REASON",
                       "DESIRED", "LOCKDOWN", "IN SYNC", "LAST SEEN"], rows))


@staff.command()
@click.option("--verify", is_flag=True, help="Check the hash chain; exit 1 if it is broken.")
@click.option("--limit", type=click.IntRange(1), default=None, help="Only the newest N entries.")
@api_option
@json_option
def audit(verify: bool, limit: int | None, api_path: Path, as_json: bool) -> None:
    """The audit trail: every staff action and every refused message."""
    params: dict[str, Any] = {"verify": "true" if verify else "false"}
    if limit is not None:
        params["limit"] = limit
    result = ApiClient(api_path).call("GET", "/v1/audit", params=params)
    check = result.get("verify")
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        rows = [[str(e["seq"]),
                 dt.datetime.fromtimestamp(e["at"] / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
                 e["actor"], e["action"], e["target"],
                 _short(json.dumps(e["detail"], separators=(",", ":")), 80)]
                for e in result["entries"]]
        click.echo(_table(["SEQ", "TIME (UTC)", "ACTOR", "ACTION", "TARGET", "DETAIL"], rows))
        if check is not None and check["ok"]:
            click.echo(f"audit chain intact: {check['entries']} entries")
    if check is not None and not check["ok"]:
        click.echo(f"error: audit chain broken at entry {check['broken_at']}: "
                   f"{check['problem']}", err=True)
        sys.exit(EXIT_PENDING)


def _add_update_commands() -> None:
    from gateway.rollout_cli import update  # uses the client above: imported after it

    staff.add_command(update)


_add_update_commands()
staff.add_command(importlib.import_module("gateway.policy_cli").policy)  # imports this module
staff.add_command(importlib.import_module("gateway.requests_cli").requests)  # imports this module
