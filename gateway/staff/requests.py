"""`staff requests list | reply | assign`: prisoners' requests and staff's answers.

Exit codes as every staff command: 2 unknown request id or refused input, 3 gateway unreachable.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from urllib.parse import quote

import click

from common.cli import OneLineGroup
from common.staff_output import say, show_json
from gateway.staff.client import EXIT_REFUSED, ApiClient, fail, operator
from gateway.staff.params import TEXT, api_option, by_option, json_option


@click.group(cls=OneLineGroup)
def requests() -> None:
    """Prisoners' requests: list them, reply to one, assign one."""


def _when(ms: int | None) -> str:
    if ms is None:
        return "-"
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M")


@requests.command(name="list")
@click.option("--device", type=TEXT, default=None, metavar="ID",
              help="Only this tablet's requests.")
@api_option
@json_option
def list_requests(device: str | None, api_path: Path, as_json: bool) -> None:
    """Every request that reached the wing, oldest first."""
    params = {"device": device} if device else None  # an unknown tablet: the gateway refuses
    rows = ApiClient(api_path).call("GET", "/v1/requests", params=params)
    if as_json:
        show_json(rows)
        return
    if not rows:
        say("no requests")
        return
    for row in rows:
        say(f"{row['id']}  {row['device']:<12} {row['type']:<10} "
            f"{_when(row['received'])}  {row['status']}")
        say(f"    {row['text']}")
        if row["reply"] is not None:
            delivered = "delivered" if row["reply_delivered"] else "not yet delivered"
            say(f"    reply by {row['reply_by']} ({delivered}): {row['reply']}")


@requests.command(name="reply")
@click.argument("request_id", metavar="ID", type=TEXT)
@click.option("--text", type=TEXT, required=True, help="The answer the prisoner will read.")
@by_option("Who answers")
@api_option
@json_option
def reply(request_id: str, text: str, by: str | None, api_path: Path, as_json: bool) -> None:
    """Answer one request; the tablet shows it as soon as it is reachable."""
    result = ApiClient(api_path).call(
        "POST", f"/v1/requests/{quote(request_id, safe='')}/reply",
        {"text": text.strip(), "by": by or operator()},
    )
    if as_json:
        show_json(result)
    else:
        to = result.get("sent_to", [result["device"]])
        say(f"reply to {request_id} sent to {', '.join(to)}" if to else
            f"reply to {request_id} kept: its writer lives in no cell of this wing now")


@requests.command(name="assign")
@click.argument("request_id", metavar="ID", type=TEXT)
@click.option("--to", "to", type=TEXT, default=None,
              help="The staff account (console) to give it to.")
@click.option("--nobody", is_flag=True, help="Take it back: assigned to no one.")
@by_option("Who assigns")
@api_option
@json_option
def assign(request_id: str, to: str | None, nobody: bool, by: str | None, api_path: Path,
           as_json: bool) -> None:
    """Give one request to a staff account that answers requests (or, --nobody, take it back)."""
    if (to is None) == (not nobody):
        fail(EXIT_REFUSED, "give either --to NAME or --nobody")
    result = ApiClient(api_path).call(
        "POST", f"/v1/requests/{quote(request_id, safe='')}/assign",
        {"to": None if nobody else to, "by": by or operator()},
    )
    if as_json:
        show_json(result)
    else:
        say(f"request {request_id} given to {result['assigned_to'] or 'nobody'}")
