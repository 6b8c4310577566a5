"""`staff wipe | wipe approve | reboot | jobs`: one-off jobs for one tablet (DESIGN §3).

A wipe erases a tablet's prisoner data (its identity, enrolment and OS stay) and needs two
people: `staff wipe --device ID --reason TEXT` only asks for it; another member of staff, as
their own OS account, runs `staff wipe approve JOB` within 10 minutes, else it lapses. Only then
is the job signed (naming both) and sent. A reboot needs one person.
Exit codes as every staff command: 2 refused input or unknown job/tablet, 3 gateway unreachable.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from common.cli import OneLineGroup
from common.staff_output import say, show_json, table
from gateway.staff.client import ApiClient, operator
from gateway.staff.params import TEXT, api_option, by_option, json_option


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")


def _show(job: dict[str, Any]) -> None:
    say(f"{job['id']}: {job['kind']} of {job['device']} ({job['state'].replace('_', ' ')})")


def _ask(kind: str, device: str, reason: str, by: str | None, api_path: Path,
         as_json: bool) -> dict[str, Any]:
    result: dict[str, Any] = ApiClient(api_path).call("POST", "/v1/jobs", {
        "device": device, "kind": kind, "reason": reason.strip(), "by": by or operator()})
    if as_json:
        show_json(result)
    else:
        _show(result)
    return result


@click.group(cls=OneLineGroup, invoke_without_command=True)
@click.option("--device", type=TEXT, default=None, metavar="ID", help="The tablet to wipe.")
@click.option("--reason", type=TEXT, default=None, help="Why (kept in the audit trail).")
@by_option("Who asks")
@api_option
@json_option
@click.pass_context
def wipe(ctx: click.Context, device: str | None, reason: str | None, by: str | None,
         api_path: Path, as_json: bool) -> None:
    """Ask for a tablet's prisoner data to be erased (a second person approves it)."""
    if ctx.invoked_subcommand is not None:
        return
    if device is None or reason is None or not reason.strip():
        raise click.UsageError("give --device ID and --reason TEXT (or `wipe approve JOB`)")
    result = _ask("wipe", device, reason, by, api_path, as_json)
    if not as_json:
        say(f"nothing is sent yet: another member of staff, as their own OS account, runs "
            f"`cellbridge staff wipe approve {result['id']}` within 10 minutes (else it lapses)")


@wipe.command()
@click.argument("job_id", metavar="JOB", type=TEXT)
@click.option("--as", "as_name", type=TEXT, default=None, metavar="NAME",
              help="A note beside your OS account, which is who approves: it must be a "
                   "different account from the one that asked.")
@api_option
@json_option
def approve(job_id: str, as_name: str | None, api_path: Path, as_json: bool) -> None:
    """Approve a wipe: it is signed, naming both of you, and sent to the tablet now."""
    result = ApiClient(api_path).call("POST", f"/v1/jobs/{quote(job_id, safe='')}/approve",
                                      {"by": as_name or operator()})
    if as_json:
        show_json(result)
    else:
        _show(result)
        say(f"approved by {result['approved_by']}; asked for by {result['requested_by']}")


@click.command()
@click.option("--device", type=TEXT, required=True, metavar="ID", help="The tablet.")
@click.option("--reason", type=TEXT, required=True, help="Why (kept in the audit trail).")
@by_option("Who asks")
@api_option
@json_option
def reboot(device: str, reason: str, by: str | None, api_path: Path, as_json: bool) -> None:
    """Restart one tablet (signed and sent now; it runs once)."""
    _ask("reboot", device, reason, by, api_path, as_json)


@click.command()
@click.argument("job_id", metavar="JOB", type=TEXT, required=False)
@click.option("--device", type=TEXT, default=None, metavar="ID", help="Only this tablet's.")
@api_option
@json_option
def jobs(job_id: str | None, device: str | None, api_path: Path, as_json: bool) -> None:
    """One-off jobs (wipes, reboots) and where each stands; with JOB, that one."""
    client = ApiClient(api_path)
    if job_id is not None:
        rows = [client.call("GET", f"/v1/jobs/{quote(job_id, safe='')}")]
    else:
        rows = client.call("GET", "/v1/jobs", params={"device": device} if device else None)
    if as_json:
        show_json(rows[0] if job_id is not None else rows)
        return
    if not rows:
        say("no jobs")
        return
    table(["job", "tablet", "kind", "state", "asked", "asked by", "approved by", "reason",
           "detail"],
          [[r["id"], r["device"], r["kind"], r["state"].replace("_", " "),
            _when(r["requested_at"]), r["requested_by"], r["approved_by"] or "-", r["reason"],
            r["detail"]] for r in rows])
