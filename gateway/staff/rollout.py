"""`staff update …`: start a rollout, pause, resume or cancel it, and see where every tablet's
update stands."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from common.cli import OneLineGroup, Pattern
from common.staff_output import say, short, show_json, table
from gateway.staff.client import ApiClient, operator
from gateway.staff.params import TEXT, FiniteRange, api_option, by_option, json_option

VERSION = Pattern("version", r"\d{1,9}(\.\d{1,9}){0,3}",
                  "a release version: up to four numbers separated by dots, like 1.4.0")


@click.group(cls=OneLineGroup)
def update() -> None:
    """OS updates: rollouts (canary first), pausing or cancelling one, each tablet's progress."""


def _update_state(reported: dict[str, Any]) -> str:
    state = reported.get("state", "?")
    return f"{state} {reported.get('progress', 0)}%" if state == "downloading" else state


@update.command("status")
@api_option
@json_option
def status(api_path: Path, as_json: bool) -> None:
    """Every rollout and where every tablet stands."""
    data = ApiClient(api_path).call("GET", "/v1/updates")
    if as_json:
        show_json(data)
        return
    for r in data["rollouts"]:
        c = r["counts"]
        paused = " (paused)" if r.get("paused") else ""
        say(f"rollout {r['id']}: {r['version']} {r['stage']}{paused}"
            f"{' (' + r['reason'] + ')' if r['reason'] else ''} - "
            f"{c['succeeded']} done, {c['in_progress']} updating, {c['failed']} failed, "
            f"{c['waiting']} waiting, {c['not_reached']} not yet offered")
    rows = []
    for t in data["tablets"]:
        reported = t["reported"] or {}
        desired = t["desired"] or {}
        rows.append([t["id"], reported.get("running", "") or "?", desired.get("version", "-"),
                     _update_state(reported), short(reported.get("error") or "", 60)])
    table(["TABLET", "RUNNING", "WANTED", "UPDATE", "LAST ERROR"], rows)
    apps = [[t["id"], a["app"], a["version"], a["state"], short(a["error"] or "", 60)]
            for t in data["tablets"] for a in t.get("apps", [])]
    if apps:
        say()
        say("pinned apps not installed:")
        table(["TABLET", "APP", "VERSION", "STATE", "LAST ERROR"], apps)


@update.command("start")
@click.option("--id", "rollout_id", type=TEXT, required=True, help="A name for this rollout.")
@click.option("--target", type=TEXT, required=True,
              help="TUF target, e.g. os/cellbridge-os-1.4.0.raucb")
@click.option("--version", "version", type=VERSION, required=True,
              help="The release's version, e.g. 1.4.0.")
@click.option("--canary", multiple=True, type=TEXT, required=True, metavar="ID",
              help="A canary tablet (repeatable): they update first.")
@click.option("--rest", multiple=True, type=TEXT, metavar="ID",
              help="A tablet for the second stage.")
@click.option("--rest-wing", is_flag=True, help="The second stage is every other tablet.")
@click.option("--max-failures", "share", type=FiniteRange(0, 1), default=0.2,
              show_default=True, help="Stop when more than this share of tablets fail.")
@click.option("--window", nargs=2, type=click.DateTime(["%Y-%m-%dT%H:%M"]), default=None,
              help="START END (local time): switch to the new release only in this window.")
@api_option
@json_option
def start(rollout_id: str, target: str, version: str, canary: tuple[str, ...],
          rest: tuple[str, ...], rest_wing: bool, share: float,
          window: tuple[dt.datetime, dt.datetime] | None, api_path: Path, as_json: bool) -> None:
    """Offer a release to the canary tablets now, the rest when the canaries succeed."""
    body = {"id": rollout_id, "target": target, "version": version, "canary": list(canary),
            "rest": list(rest), "rest_wing": rest_wing, "max_failure_share": share,
            "by": operator()}
    if window is not None:
        body["window_start"] = int(window[0].astimezone().timestamp() * 1000)
        body["window_end"] = int(window[1].astimezone().timestamp() * 1000)
    data = ApiClient(api_path).call("POST", "/v1/rollouts", body)
    if as_json:
        show_json(data)
    else:
        say(f"rollout {data['id']} started: {len(canary)} canary tablets")


def _change(verb: str, done: str, help_text: str, with_reason: bool = False) -> click.Command:
    """`staff update cancel|pause|resume ID`."""

    @click.command(name=verb, help=help_text)
    @click.argument("rollout_id", metavar="ID", type=TEXT)
    @by_option()
    @api_option
    @json_option
    def command(rollout_id: str, by: str | None, api_path: Path, as_json: bool,
                reason: str | None = None) -> None:
        body = {"by": by or operator(), "reason": (reason or "").strip()}
        data = ApiClient(api_path).call(
            "POST", f"/v1/rollouts/{quote(rollout_id, safe='')}/{verb}", body)
        if as_json:
            show_json(data)
        else:
            say(f"rollout {data['id']} {done}")

    if with_reason:
        command = click.option("--reason", type=TEXT, default=None,
                               help="Why; kept in the audit trail.")(command)
    return command


update.add_command(_change(
    "cancel", "cancelled: the update is withdrawn from the tablets that had not started it",
    "End rollout ID: tablets that have not started the update do not get it (one already "
    "installing finishes, or rolls back by itself).", with_reason=True))
update.add_command(_change(
    "pause", "paused: no tablet starts it until `staff update resume`",
    "Pause rollout ID: no tablet starts the update, and the next stage waits, until resumed."))
update.add_command(_change(
    "resume", "resumed", "Resume a paused rollout ID: its tablets are offered the update again."))
