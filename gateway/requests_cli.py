"""`cellbridge staff requests list | reply`: prisoners' requests and staff's answers.

Exit codes as every staff command: 2 unknown request id or refused input, 3 gateway unreachable.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import click

from gateway.staff_cli import EXIT_REFUSED, ApiClient, api_option, fail, json_option, operator


@click.group()
def requests() -> None:
    """Prisoners' requests: list them, reply to one."""


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")


@requests.command(name="list")
@click.option("--device", default=None, metavar="ID", help="Only this tablet's requests.")
@api_option
@json_option
def list_requests(device: str | None, api_path: Path, as_json: bool) -> None:
    """Every request that reached the wing, oldest first."""
    params = {"device": device} if device else None
    rows = ApiClient(api_path).call("GET", "/v1/requests", params=params)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no requests")
        return
    for row in rows:
        click.echo(f"{row['id']}  {row['device']:<12} {row['type']:<10} "
                   f"{_when(row['received'])}  {row['status']}")
        click.echo(f"    {row['text']}")
        if row["reply"] is not None:
            delivered = "delivered" if row["reply_delivered"] else "not yet delivered"
            click.echo(f"    reply by {row['reply_by']} ({delivered}): {row['reply']}")


@requests.command(name="reply")
@click.argument("request_id", metavar="ID")
@click.option("--text", required=True, help="The answer the prisoner will read.")
@click.option("--by", default=None, help="Who answers (default: your user name).")
@api_option
@json_option
def reply(request_id: str, text: str, by: str | None, api_path: Path, as_json: bool) -> None:
    """Answer one request; the tablet shows it as soon as it is reachable."""
    if not text.strip():
        fail(EXIT_REFUSED, "--text must not be empty")
    result = ApiClient(api_path).call(
        "POST", f"/v1/requests/{request_id}/reply", {"text": text.strip(), "by": by or operator()}
    )
    if as_json:
        click.echo(json.dumps(result, indent=2))
    else:
        click.echo(f"reply to {request_id} sent to {result['device']}")
