"""`staff lock` and `staff unlock`: one or more tablets, a cell, a landing or the whole wing."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from gateway.staff.client import EXIT_PENDING, EXIT_REFUSED, ApiClient, fail, operator
from gateway.staff.output import say, show_json
from gateway.staff.params import TEXT, api_option, by_option, json_option, wait_option


def lock_command(locked: bool) -> click.Command:
    """The `lock` command, or with `locked` false the `unlock` command."""
    verb = "lock" if locked else "unlock"

    @click.command(name=verb, help=f"{verb.capitalize()} tablets: one or more by id, a cell, a "
                   "landing, or the whole wing.")
    @click.option("--device", "devices", multiple=True, metavar="ID", type=TEXT,
                  help="A tablet (repeatable).")
    @click.option("--cell", type=TEXT, default=None, help="Every tablet in this cell.")
    @click.option("--landing", type=TEXT, default=None, help="Every tablet on this landing.")
    @click.option("--wing", is_flag=True, help=f"Wing-wide {verb} (one signed document).")
    @click.option("--reason", type=TEXT, required=True,
                  help="Why; shown on the lock screen and audited.")
    @wait_option("it applied")
    @by_option()
    @api_option
    @json_option
    def command(devices: tuple[str, ...], cell: str | None, landing: str | None, wing: bool,
                reason: str, wait_s: float, by: str | None, api_path: Path,
                as_json: bool) -> None:
        chosen = sum([bool(devices), cell is not None, landing is not None, wing])
        if chosen != 1:
            fail(EXIT_REFUSED, "give exactly one of --device (repeatable), --cell, --landing, "
                 "--wing")
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
            show_json(result)
        elif wait_s == 0:
            say(f"{verb} sent to {len(targets)} tablet(s) (version {result['version']}); "
                f"confirmed so far: {len(result['confirmed'])}")
        elif not pending:
            say(f"{verb}ed: all {len(targets)} tablet(s) confirmed")
        held = [] if locked or wing else still_in_lockdown(api_path, targets)
        if held:
            say(f"Error: {', '.join(held[:20])}{' …' if len(held) > 20 else ''} remain(s) locked "
                "by the wing lockdown: lift it with `staff unlock --wing`", err=True)
            if wait_s > 0:
                sys.exit(EXIT_PENDING)
        if wait_s > 0 and pending:
            rejected = result.get("rejected") or {}
            silent = [d for d in pending if d not in rejected]
            parts = []
            if silent:
                parts.append(f"no answer within {wait_s:g}s from {', '.join(silent)}")
            if rejected:
                parts.append("refused by " + ", ".join(f"{d} ({r})" for d, r in rejected.items()))
            say(f"Error: not confirmed by {len(pending)} of {len(targets)}: " + "; ".join(parts),
                err=True)
            sys.exit(EXIT_PENDING)

    return command


def still_in_lockdown(api_path: Path, targets: list[str]) -> list[str]:
    """Which of `targets` the wing lockdown still holds: an unlock of one tablet does not lift
    the wing's lock, which the tablet combines with its own."""
    wanted = set(targets)
    return [t["id"] for t in ApiClient(api_path).call("GET", "/v1/tablets")
            if t["id"] in wanted and t["lockdown"]["locked"]]


lock = lock_command(True)
unlock = lock_command(False)
