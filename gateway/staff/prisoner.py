"""`staff prisoner add | move | release | transfer | reset-pin | list | show | import`: prisoner
accounts (docs/prisoners.md).

`reset-pin` prints a one-time code once: the person signs in with it on their cell's tablet and
then chooses a PIN. `import` sends the prison's nightly roll (CSV): every bad row is listed with
its line; nothing changes if any row is bad, unless `--skip-bad`; `--dry-run` only says what
would change. Exit codes as every staff command: 2 refused input, 3 gateway unreachable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import click

from common.cli import OneLineGroup
from common.staff_output import say, show_json, table
from gateway.staff.client import EXIT_REFUSED, ApiClient, fail
from gateway.staff.params import TEXT, api_option, by_option, json_option


@click.group(cls=OneLineGroup)
def prisoner() -> None:
    """Prisoner accounts: add, move, release, transfer, reset a PIN, list, show, import the
    roll."""


def _path(number: str, verb: str = "") -> str:
    return f"/v1/prisoners/{quote(number.strip().upper(), safe='')}" + (f"/{verb}" if verb
                                                                         else "")


def _line(person: dict[str, Any], verb: str) -> None:
    say(f"{person['number']} {person['name']} {verb}: {person['status'].replace('_', ' ')}"
        + (f" in {person['cell']}" if person["status"] == "in_cell" else ""))


@prisoner.command()
@click.argument("number", type=TEXT)
@click.option("--name", type=TEXT, required=True, help="Full name, as on the roll.")
@click.option("--cell", type=TEXT, required=True, help="The cell they live in.")
@click.option("--language", type=click.Choice(["en", "pl"]), default="en", show_default=True)
@click.option("--profile", type=TEXT, default="standard", show_default=True,
              help="Privilege profile: basic, standard, enhanced, resettlement.")
@click.option("--release-date", type=TEXT, default=None, metavar="DATE",
              help="Expected release date, YYYY-MM-DD.")
@by_option("Who adds them")
@api_option
@json_option
def add(number: str, name: str, cell: str, language: str, profile: str, release_date: str | None,
        by: str | None, api_path: Path, as_json: bool) -> None:
    """Add a person to the wing (or re-admit one who left)."""
    result = ApiClient(api_path).call("POST", "/v1/prisoners", {
        "number": number.strip().upper(), "name": name, "cell": cell, "language": language,
        "profile": profile, "release_date": release_date or "", "by": by})
    _show(result, as_json, "added")


@prisoner.command()
@click.argument("number", type=TEXT)
@click.option("--cell", type=TEXT, required=True, help="The cell they move to.")
@by_option("Who moves them")
@api_option
@json_option
def move(number: str, cell: str, by: str | None, api_path: Path, as_json: bool) -> None:
    """Move a person to another cell: off the old cell's tablets, onto the new one's."""
    result = ApiClient(api_path).call("POST", _path(number, "move"), {"cell": cell, "by": by})
    _show(result, as_json, "moved")


def _show(person: dict[str, Any], as_json: bool, verb: str) -> None:
    if as_json:
        show_json(person)
    else:
        _line(person, verb)


def _leave(verb: str, number: str, reason: str | None, by: str | None, api_path: Path,
           as_json: bool) -> None:
    result = ApiClient(api_path).call("POST", _path(number, verb),
                                      {"reason": reason or "", "by": by})
    _show(result, as_json, {"release": "released", "transfer": "transferred"}[verb])


@prisoner.command()
@click.argument("number", type=TEXT)
@click.option("--reason", type=TEXT, default=None, help="Kept in the audit trail.")
@by_option("Who releases them")
@api_option
@json_option
def release(number: str, reason: str | None, by: str | None, api_path: Path,
            as_json: bool) -> None:
    """Release: sessions end, web grants are revoked, every tablet forgets them."""
    _leave("release", number, reason, by, api_path, as_json)


@prisoner.command()
@click.argument("number", type=TEXT)
@click.option("--reason", type=TEXT, default=None, help="Kept in the audit trail.")
@by_option("Who transfers them")
@api_option
@json_option
def transfer(number: str, reason: str | None, by: str | None, api_path: Path,
             as_json: bool) -> None:
    """Transfer to another prison: as release, recorded as a transfer."""
    _leave("transfer", number, reason, by, api_path, as_json)


@prisoner.command(name="reset-pin")
@click.argument("number", type=TEXT)
@by_option("Who issues the code")
@api_option
@json_option
def reset_pin(number: str, by: str | None, api_path: Path, as_json: bool) -> None:
    """Issue a one-time code (shown once) and end a lock-out; the person then sets a PIN."""
    result = ApiClient(api_path).call("POST", _path(number, "reset-pin"), {"by": by})
    if as_json:
        show_json(result)
        return
    say(f"one-time code for {result['number']} {result['name']}: {result['code']}")
    say("give it to them in person; it is shown only now. They choose a PIN after using it.")


@prisoner.command(name="list")
@click.option("--status", type=click.Choice(["in_cell", "released", "transferred"]),
              default=None, help="Only people of this status.")
@api_option
@json_option
def list_prisoners(status: str | None, api_path: Path, as_json: bool) -> None:
    """Every record: number, name, cell, status, profile, credential."""
    rows = ApiClient(api_path).call("GET", "/v1/prisoners",
                                    params={"status": status} if status else None)
    if as_json:
        show_json(rows)
        return
    if not rows:
        say("no prisoners")
        return
    table(["number", "name", "cell", "status", "profile", "language", "credential"],
          [[r["number"], r["name"], r["cell"], r["status"].replace("_", " "), r["profile"],
            r["language"], "LOCKED OUT" if r["locked_out"] else (r["credential"] or "none")]
           for r in rows])


@prisoner.command()
@click.argument("number", type=TEXT)
@api_option
@json_option
def show(number: str, api_path: Path, as_json: bool) -> None:
    """One person's record, the tablets that know them and where they are signed in."""
    person = ApiClient(api_path).call("GET", _path(number))
    if as_json:
        show_json(person)
        return
    for key in ("number", "name", "status", "cell", "profile", "language", "release_date",
                "credential", "pin_epoch", "failed", "locked_out"):
        say(f"{key.replace('_', ' ')}: {person[key] if person[key] not in ('', None) else '-'}")
    say(f"tablets: {', '.join(person['tablets']) or '-'}")
    say(f"signed in on: {', '.join(person['signed_in_on']) or '-'}")
    say(f"lessons: {len(person['lessons'])}")


@prisoner.command(name="import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Only say what would change.")
@click.option("--skip-bad", is_flag=True, help="Apply the good rows even if some are bad.")
@by_option("Who imports it")
@api_option
@json_option
def import_roll(file: Path, dry_run: bool, skip_bad: bool, by: str | None, api_path: Path,
                as_json: bool) -> None:
    """Bring the records in step with the prison's nightly roll (CSV)."""
    try:
        text = file.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        fail(EXIT_REFUSED, f"{file}: not UTF-8 text (byte {exc.start})")
    except OSError as exc:
        fail(EXIT_REFUSED, f"{file}: {exc.strerror}")
    result = ApiClient(api_path).call("POST", "/v1/prisoners/import", {
        "csv": text, "dry_run": dry_run, "skip_bad": skip_bad, "by": by}, timeout=120.0)
    if as_json:
        show_json(result)
    else:
        for bad in result["bad"]:
            say(f"{file.name}:{bad['line']}: {bad['reason']}", err=True)
        head = ("would change" if dry_run else "changed" if result["applied"]
                else "nothing changed")
        say(f"{head}: {len(result['added'])} added, {len(result['readmitted'])} re-admitted, "
            f"{len(result['moved'])} moved, {len(result['updated'])} updated, "
            f"{len(result['released'])} released, {result['unchanged']} unchanged"
            + (f"; {result['tablets']} tablets re-issued" if "tablets" in result else ""))
        if result["bad"] and not result["applied"] and not dry_run:
            say(f"{len(result['bad'])} bad rows: fix them or use --skip-bad", err=True)
    if result["bad"] and not skip_bad:
        raise SystemExit(EXIT_REFUSED)
