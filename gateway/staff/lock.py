"""`staff lock` and `staff unlock`: one or more tablets, a cell, a landing or the whole wing.

Lifting the wing lockdown needs two people: `staff unlock --wing` only asks, and a second,
different OS account runs `staff unlock approve ID` within 10 minutes (or approves it in the
console), else it lapses."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from common.cli import OneLineGroup
from common.staff_output import say, show_json
from gateway.staff.client import EXIT_PENDING, EXIT_REFUSED, ApiClient, fail, operator
from gateway.staff.params import TEXT, api_option, by_option, json_option, wait_option
from gateway.staff.status import schedule_now


def lock_command(locked: bool) -> click.Command:
    """The `lock` command, or with `locked` false the `unlock` command."""
    verb = "lock" if locked else "unlock"
    help_text = (f"{verb.capitalize()} tablets: one or more by id, a cell, a landing, or the "
                 "whole wing.")
    decorator = (click.command(name=verb, help=help_text) if locked else click.group(
        name=verb, cls=OneLineGroup, invoke_without_command=True,
        help=help_text + " Lifting the wing lockdown only asks: a second, different OS account "
        "approves it (`unlock approve ID`)."))

    @decorator
    @click.option("--device", "devices", multiple=True, metavar="ID", type=TEXT,
                  help="A tablet (repeatable).")
    @click.option("--cell", type=TEXT, default=None, help="Every tablet in this cell.")
    @click.option("--landing", type=TEXT, default=None, help="Every tablet on this landing.")
    @click.option("--wing", is_flag=True, help=f"Wing-wide {verb} (one signed document).")
    @click.option("--reason", type=TEXT, required=locked, default=None,
                  help="Why; shown on the lock screen and audited.")
    @wait_option("it applied")
    @by_option()
    @api_option
    @json_option
    @click.pass_context
    def command(ctx: click.Context, devices: tuple[str, ...], cell: str | None,
                landing: str | None, wing: bool, reason: str | None, wait_s: float,
                by: str | None, api_path: Path, as_json: bool) -> None:
        if ctx.invoked_subcommand is not None:
            return
        if reason is None:
            raise click.UsageError("give --reason TEXT (or `unlock approve ID`)")
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
        client = ApiClient(api_path)
        result = client.call("POST", "/v1/lock", body, timeout=wait_s + 30)
        if "awaiting_approval" in result:
            asked(result["awaiting_approval"], as_json)
            return
        report(client, verb, result, wait_s, wing, as_json)

    return command


def asked(waiting: dict[str, Any], as_json: bool) -> None:
    """What a lift of the wing lockdown says: nothing is lifted until a second person agrees."""
    if as_json:
        show_json({"awaiting_approval": waiting})
        return
    say(f"asked to lift the wing lockdown ({waiting['id']}); nothing is lifted yet: another "
        "member of staff, as their own OS account, runs "
        f"`cellbridge staff unlock approve {waiting['id']}` within 10 minutes (or approves it "
        "in the console), else it lapses")


def report(client: ApiClient, verb: str, result: dict[str, Any], wait_s: float, wing: bool,
           as_json: bool) -> None:
    """What a lock or unlock did, in words (or JSON); exits 1 when waited for in vain."""
    locked = verb == "lock"
    targets, pending = result["targets"], result["pending"]
    held = [] if locked else still_held(client, targets, wing)
    lines = [] if locked else held_lines(client, held, wing)
    failed = wait_s > 0 and any(blocking for blocking, _ in lines)
    if as_json:
        show_json({**result, "still_locked": held})
    elif wait_s == 0:
        say(f"{verb} sent to {len(targets)} tablet(s) (version {result['version']}); "
            f"confirmed so far: {len(result['confirmed'])}")
    elif not pending and not failed:
        say(f"{verb}ed: all {len(targets)} tablet(s) confirmed")
    for blocking, line in lines:
        # An unlock that cannot take effect is an error when staff waited for it to.
        say(f"{'Error' if blocking and failed else 'Warning'}: {line}", err=True)
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
    if failed or (wait_s > 0 and pending):
        sys.exit(EXIT_PENDING)


def _named(devices: list[str]) -> str:
    return ", ".join(devices[:20]) + (f" (+{len(devices) - 20} more)" if len(devices) > 20 else "")


def still_held(client: ApiClient, targets: list[str], wing: bool) -> list[str]:
    """Which of `targets` stay locked after an unlock, by what the gateway itself issued: after a
    tablet's (or cell's, landing's) unlock, those the wing lockdown still holds; after the wing's,
    those with a lock of their own."""
    wanted = set(targets)
    key = "desired" if wing else "lockdown"
    return [t["id"] for t in client.call("GET", "/v1/tablets")
            if t["id"] in wanted and t[key]["locked"]]


def held_lines(client: ApiClient, held: list[str], wing: bool) -> list[tuple[bool, str]]:
    """What an unlock could not lift, in words, each marked whether it keeps the unlocked tablets
    from being used: the wing lockdown over a tablet's unlock, or a lockdown period of the wing
    policy, does; a tablet's own lock after the wing's unlock, or a curfew, is said but expected."""
    lines = []
    if held and wing:
        lines.append((False, f"{_named(held)} remain(s) locked by their own lock: lift it with "
                      "`staff unlock --device ID`"))
    elif held:
        lines.append((True, f"{_named(held)} remain(s) locked by the wing lockdown: lift it with "
                      "`staff unlock --wing`"))
    answer, words = schedule_now(client)
    if answer is not None and answer["state"] in ("curfew", "lockdown"):
        lines.append((answer["state"] == "lockdown", f"{words} Until then the tablets allow only "
                      "the always-allowed apps."))
    return lines


lock = lock_command(True)
unlock = lock_command(False)


@unlock.command(name="approve")  # type: ignore[attr-defined]
@click.argument("pending_id", metavar="ID", type=TEXT)
@wait_option("it applied")
@api_option
@json_option
def approve(pending_id: str, wait_s: float, api_path: Path, as_json: bool) -> None:
    """Approve lifting the wing lockdown that another member of staff asked for (ID, as `unlock
    --wing` printed it): it is signed, naming both of you, and sent now."""
    client = ApiClient(api_path)
    result = client.call("POST", f"/v1/approvals/{quote(pending_id, safe='')}/approve",
                         {"wait_s": wait_s}, timeout=wait_s + 30)
    if not as_json:
        say(f"approved: the wing lockdown is lifted by {result['by']}")
    report(client, "unlock", result, wait_s, True, as_json)
