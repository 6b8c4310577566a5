"""`staff audit`: the audit trail (every staff action, every refused message) and its check."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import click

from common.staff_output import say, short, show_json, table
from gateway.staff.client import EXIT_PENDING, ApiClient
from gateway.staff.params import api_option, json_option


@click.command()
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
        show_json(result)
    else:
        rows = [[str(e["seq"]),
                 dt.datetime.fromtimestamp(e["at"] / 1000, dt.UTC).strftime("%Y-%m-%d %H:%M:%S"),
                 e["actor"], e["action"], e["target"],
                 short(json.dumps(e["detail"], separators=(",", ":")), 80)]
                for e in result["entries"]]
        table(["SEQ", "TIME (UTC)", "ACTOR", "ACTION", "TARGET", "DETAIL"], rows)
        if check is not None and check["ok"]:
            say(f"audit chain intact: {check['entries']} entries")
    if check is not None and not check["ok"]:
        say(f"Error: audit chain broken at entry {check['broken_at']}: {check['problem']}",
            err=True)
        sys.exit(EXIT_PENDING)
