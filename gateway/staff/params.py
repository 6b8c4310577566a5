"""How staff commands read their arguments: click types that refuse what cannot be sent or
shown (text that is not UTF-8, blank text, a wait of `nan`), and the options commands share.
A refusal is click's own usage error: one `Error:` line and exit code 2 (see `gateway.staff`)."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from gateway.staff.client import DEFAULT_API

Decorator = Callable[[Any], Any]


class StaffText(click.ParamType):
    """Text typed by staff and sent to the gateway as JSON: ids, names, reasons, replies. Not
    blank, and UTF-8: a byte that is not arrives as a surrogate escape and is refused here, not
    by a traceback when the request is encoded."""

    name = "text"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> str:
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError:
                self.fail("not UTF-8 text", param, ctx)
        text = str(value)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            self.fail("not UTF-8 text", param, ctx)
        if not text.strip():
            self.fail("must not be empty", param, ctx)
        return text


TEXT = StaffText()


class FiniteRange(click.FloatRange):
    """A finite float in a range: `nan` compares as inside any range, so it is refused here
    rather than reaching a timeout or the gateway."""

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{number} is not a finite number", param, ctx)
        return number


api_option = click.option(
    "--api", "api_path", envvar="CELLBRIDGE_GATEWAY_API", default=str(DEFAULT_API),
    show_default=True, type=click.Path(path_type=Path),
    help="The gateway's API socket (env CELLBRIDGE_GATEWAY_API).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")


def by_option(who: str = "Who decided") -> Decorator:
    """`--by NAME`, recorded in the audit trail; the default is the user running the command."""
    return click.option("--by", type=TEXT, default=None,
                        help=f"{who} (default: your user name).")


def wait_option(what: str) -> Decorator:
    """`--wait S`: wait up to 600 s for every tablet to report `what`."""
    return click.option("--wait", "wait_s", type=FiniteRange(0, 600), default=0.0,
                        help=f"Wait up to S seconds for every tablet to report {what}.")
