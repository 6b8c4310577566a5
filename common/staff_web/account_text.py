"""What `staff account` (wing) and `prison account` print: the enrolment a new or reset account's
holder is told once, and the list of accounts. One way to show them, for both CLIs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click

from common.staff_output import say, say_lines, show_json, table
from common.staff_web.qr import qr_svg, qr_text

qr_option = click.option(
    "--qr-svg", "qr_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Write the TOTP enrolment QR code to this SVG file instead of the terminal.")


def show_enrolment(result: Mapping[str, Any], qr_file: Path | None, as_json: bool) -> None:
    """What the new holder is told once: the one-time password, and the TOTP enrolment."""
    if as_json:
        show_json(dict(result))
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


def show_accounts(accounts: Sequence[Mapping[str, Any]], as_json: bool) -> None:
    """Every account: roles, state, second factor."""
    if as_json:
        show_json(list(accounts))
        return
    table(["NAME", "DISPLAY", "ROLES", "STATE", "TOTP"], [
        [a["name"], a["display"], ",".join(a["roles"]),
         "disabled" if a["disabled"] else ("locked" if a["locked_until"] else "active"),
         "yes" if a["totp"] else "no"]
        for a in accounts])
