"""`staff account add | disable | reset | list`: the console's staff accounts, from the gateway
host (the first admin, a lost second factor). Through the control API, so each change is audited
as the OS account that ran it (the gateway reads it from its socket; `--by` is only a note)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from common.cli import OneLineGroup
from common.staff_web.qr import qr_svg, qr_text
from common.staff_web.roles import Role, parse_roles
from gateway.staff.client import EXIT_REFUSED, ApiClient, fail, operator
from gateway.staff.output import say, say_lines, show_json, table
from gateway.staff.params import TEXT, api_option, by_option, json_option

qr_option = click.option(
    "--qr-svg", "qr_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Write the TOTP enrolment QR code to this SVG file instead of the terminal.")


@click.group(cls=OneLineGroup)
def account() -> None:
    """Staff accounts of the web console (add, disable, reset, list)."""


def _enrolment(result: dict[str, Any], qr_file: Path | None, as_json: bool) -> None:
    """What the new holder is told once: the one-time password, and the TOTP enrolment."""
    if as_json:
        show_json(result)
        return
    say(f"account {result['name']}: one-time password {result['password']}")
    say("(shown once: it must be changed at the first sign-in)")
    uri = result.get("totp_uri")
    if uri:
        say(f"TOTP enrolment: {uri}")
        if qr_file is not None:
            qr_file.write_text(qr_svg(uri), encoding="utf-8")
            qr_file.chmod(0o600)
            say(f"QR code written to {qr_file}")
        else:
            say_lines(qr_text(uri))


@account.command()
@click.argument("name", type=TEXT)
@click.option("--display", type=TEXT, required=True, help="The name shown in the console.")
@click.option("--roles", type=TEXT, required=True,
              help=f"Comma-separated: {', '.join(r.value for r in Role)}.")
@qr_option
@by_option()
@api_option
@json_option
def add(name: str, display: str, roles: str, qr_file: Path | None, by: str | None,
        api_path: Path, as_json: bool) -> None:
    """Add an account; print its one-time password (and TOTP enrolment for security/admin)."""
    try:
        chosen = parse_roles(roles)
    except ValueError as exc:
        fail(EXIT_REFUSED, str(exc))
    result = ApiClient(api_path).call("POST", "/v1/accounts", {
        "name": name, "display": display, "roles": sorted(r.value for r in chosen),
        "by": by or operator()})
    _enrolment(result, qr_file, as_json)


@account.command()
@click.argument("name", type=TEXT)
@qr_option
@by_option()
@api_option
@json_option
def reset(name: str, qr_file: Path | None, by: str | None, api_path: Path,
          as_json: bool) -> None:
    """A lost password or second factor: a new one-time password (and TOTP enrolment); the
    account's sessions end."""
    result = ApiClient(api_path).call("POST", f"/v1/accounts/{name}/reset",
                                      {"by": by or operator()})
    _enrolment(result, qr_file, as_json)


@account.command()
@click.argument("name", type=TEXT)
@by_option()
@api_option
@json_option
def disable(name: str, by: str | None, api_path: Path, as_json: bool) -> None:
    """Disable an account: it can no longer sign in, and its sessions end."""
    result = ApiClient(api_path).call("POST", f"/v1/accounts/{name}/disable",
                                      {"by": by or operator()})
    if as_json:
        show_json(result)
    else:
        say(f"account {name} disabled")


@account.command(name="list")
@api_option
@json_option
def listing(api_path: Path, as_json: bool) -> None:
    """Every account: roles, state, last sign-in."""
    accounts = ApiClient(api_path).call("GET", "/v1/accounts")
    if as_json:
        show_json(accounts)
        return
    table(["NAME", "DISPLAY", "ROLES", "STATE", "TOTP"], [
        [a["name"], a["display"], ",".join(a["roles"]),
         "disabled" if a["disabled"] else ("locked" if a["locked_until"] else "active"),
         "yes" if a["totp"] else "no"]
        for a in accounts])
