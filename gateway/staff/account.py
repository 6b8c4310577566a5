"""`staff account add | disable | reset | list`: the console's staff accounts, from the gateway
host (the first admin, a lost second factor). Through the control API, so each change is audited
as the OS account that ran it (the gateway reads it from its socket; `--by` is only a note)."""

from __future__ import annotations

from pathlib import Path

import click

from common.cli import OneLineGroup
from common.staff_output import say, show_json
from common.staff_web.account_text import qr_option, show_accounts, show_enrolment
from common.staff_web.roles import Role, parse_roles
from gateway.staff.client import EXIT_REFUSED, ApiClient, fail, operator
from gateway.staff.params import TEXT, api_option, by_option, json_option


@click.group(cls=OneLineGroup)
def account() -> None:
    """Staff accounts of the web console (add, disable, reset, list)."""


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
    show_enrolment(result, qr_file, as_json)


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
    show_enrolment(result, qr_file, as_json)


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
    show_accounts(ApiClient(api_path).call("GET", "/v1/accounts"), as_json)
