"""`staff policy`: show, check and apply the wing policy; curfew exceptions and
lockdowns; privilege profiles. A thin client of the gateway's API, like the rest of `staff`.

Exit codes as `staff`: 0 done; 1 not every tablet reported the new policy within --wait;
2 refused input (a policy file's mistakes are named by file, line and field); 3 unreachable.
"""

from __future__ import annotations

import datetime as dt
import sys
import zoneinfo
from pathlib import Path
from typing import Any

import click

from common.apptree import TreeError, hash_tree
from common.cli import OneLineGroup
from common.staff_output import say, say_lines, show_json
from gateway.policy_file import PolicyFileError, load_rules, rules_to_toml
from gateway.staff.client import EXIT_PENDING, EXIT_REFUSED, ApiClient, fail, operator
from gateway.staff.curfew_words import CLOSED, next_in_words, now_in_words
from gateway.staff.params import TEXT, api_option, by_option, json_option, wait_option
from wire.manifest import MANIFEST_NAME
from wire.policy import wing_policy

_ENVELOPE = {"audience": "wing:show", "version": 1, "issued": 0, "expires": 1}


@click.group(cls=OneLineGroup)
def policy() -> None:
    """The wing policy: curfews, exceptions, lockdowns, apps and privilege profiles."""


@policy.command()
@api_option
@json_option
def show(api_path: Path, as_json: bool) -> None:
    """The policy in force, as a TOML file, and how many tablets enforce it."""
    summary = ApiClient(api_path).call("GET", "/v1/policy")
    if as_json:
        show_json(summary)
        return
    if summary["rules"] is None:
        fail(EXIT_REFUSED, "no wing policy has been applied yet")
    say(f"# version {summary['version']}, hash {summary['hash'][:16]}…, enforced by "
        f"{summary['tablets_current']} of {summary['tablets']} tablet(s)")
    say_lines(rules_to_toml(wing_policy(summary["rules"], **_ENVELOPE)))


def _publish(api_path: Path, rules: dict[str, Any], by: str | None, wait_s: float,
             as_json: bool, base_version: int | None = None) -> None:
    body: dict[str, Any] = {"rules": rules, "by": by or operator(), "wait_s": wait_s}
    if base_version is not None:
        body["base_version"] = base_version
    result = ApiClient(api_path).call("POST", "/v1/policy", body, timeout=wait_s + 30)
    if as_json:
        show_json(result)
    elif not result["changed"]:
        say(f"unchanged: version {result['version']} already has these rules")
    else:
        say(f"published policy version {result['version']} (hash {result['hash'][:16]}…)"
            f"; enforced so far by {len(result['confirmed'])} of "
            f"{len(result['targets'])} tablet(s)")
    if wait_s > 0 and result["pending"]:
        pending = result["pending"]
        say(f"Error: not reported within {wait_s:g}s by {len(pending)} of "
            f"{len(result['targets'])}: {', '.join(pending[:50])}", err=True)
        sys.exit(EXIT_PENDING)


@policy.command()
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--check", is_flag=True, help="Only check the file; publish nothing.")
@wait_option("the new policy")
@by_option()
@api_option
@json_option
def apply(file: Path, check: bool, wait_s: float, by: str | None, api_path: Path,
          as_json: bool) -> None:
    """Check FILE (TOML) and publish it, signed, to every tablet of the wing."""
    try:
        rules = load_rules(file)
    except PolicyFileError as exc:
        fail(EXIT_REFUSED, str(exc))
    if check:
        say(f"{file}: ok")
        return
    _publish(api_path, rules, by, wait_s, as_json)


@policy.command()
@click.argument("profile", type=TEXT)
@click.option("--device", "devices", multiple=True, required=True, metavar="ID", type=TEXT,
              help="A tablet (repeatable).")
@by_option()
@api_option
@json_option
def profile(profile: str, devices: tuple[str, ...], by: str | None, api_path: Path,
            as_json: bool) -> None:
    """Give tablets a privilege PROFILE (basic, standard, enhanced, resettlement)."""
    result = ApiClient(api_path).call("POST", "/v1/profile", {
        "devices": list(dict.fromkeys(devices)), "profile": profile, "by": by or operator()})
    if as_json:
        show_json(result)
    else:
        say(f"profile {profile} sent to {len(result['devices'])} tablet(s)")


@policy.group()
def curfew() -> None:
    """Where the wing stands, and one-off exceptions and lockdowns."""


@curfew.command()
@click.option("--profile", type=TEXT, default="standard", show_default=True)
@api_option
@json_option
def status(profile: str, api_path: Path, as_json: bool) -> None:
    """In words: is the wing in curfew now (by the gateway's clock), until when, when the next
    curfew is, and the apps PROFILE may use now."""
    client = ApiClient(api_path)
    answer = client.call("GET", "/v1/policy/decision", params={"profile": profile})
    if as_json:
        show_json(answer)
        return
    rules = client.call("GET", "/v1/policy")["rules"]
    tz = zoneinfo.ZoneInfo(rules["timezone"])
    say(now_in_words(answer, tz))
    coming = answer
    if answer["state"] in CLOSED and answer["ends_at"] is not None:
        coming = client.call("GET", "/v1/policy/decision",
                             params={"profile": profile, "at": answer["ends_at"]})
    if answer["state"] != "unknown":
        say(next_in_words(coming, tz, answer["at"]))
        say(f"(Times are the wing's own, {rules['timezone']}.)")
    allowed = [a["app"] for a in answer["apps"] if a["allowed"]]
    say(f"{profile} may use now: {', '.join(allowed) or 'nothing'}")


def _edit(api_path: Path, change: Any, by: str | None, as_json: bool) -> None:
    client = ApiClient(api_path)
    summary = client.call("GET", "/v1/policy")
    if summary["rules"] is None:
        fail(EXIT_REFUSED, "no wing policy has been applied yet: apply a policy file first")
    rules = summary["rules"]
    change(rules)
    _publish(api_path, rules, by, 0.0, as_json, base_version=summary["version"])


def _local(value: str, option: str) -> str:
    try:
        moment = dt.datetime.strptime(value.strip().replace(" ", "T"), "%Y-%m-%dT%H:%M")
    except ValueError:
        fail(EXIT_REFUSED, f"{option}: {value!r} is not a local time like 2026-12-24T22:00")
    return moment.strftime("%Y-%m-%dT%H:%M")


_span_options = [
    click.option("--name", type=TEXT, required=True,
                 help="What it is, as staff and prisoners will see it."),
    click.option("--start", type=TEXT, required=True,
                 help="Local prison time, e.g. 2026-12-31T22:00."),
    click.option("--end", type=TEXT, required=True,
                 help="Local prison time, e.g. 2027-01-01T00:30."),
    by_option(),
    api_option,
    json_option,
]


def _with_span_options(command: Any) -> Any:
    for option in reversed(_span_options):
        command = option(command)
    return command


@curfew.command()
@_with_span_options
@click.option("--effect", type=click.Choice(["open", "curfew"]), default="open", show_default=True,
              help="open: lift the curfew (late association); curfew: add one.")
def exception(name: str, start: str, end: str, by: str | None, api_path: Path, as_json: bool,
              effect: str) -> None:
    """Add a one-off exception to the curfew."""
    item = {"name": name, "start": _local(start, "--start"), "end": _local(end, "--end"),
            "effect": effect}
    _edit(api_path, lambda rules: rules["overrides"].append(item), by, as_json)


@curfew.command()
@_with_span_options
def lockdown(name: str, start: str, end: str, by: str | None, api_path: Path,
             as_json: bool) -> None:
    """Plan a lockdown: only the always-allowed apps run, whatever else the policy says."""
    item = {"name": name, "start": _local(start, "--start"), "end": _local(end, "--end")}
    _edit(api_path, lambda rules: rules["lockdowns"].append(item), by, as_json)


@curfew.command()
@click.argument("name", type=TEXT)
@by_option()
@api_option
@json_option
def remove(name: str, by: str | None, api_path: Path, as_json: bool) -> None:
    """Remove the exception(s) or lockdown(s) called NAME."""

    def change(rules: dict[str, Any]) -> None:
        before = len(rules["overrides"]) + len(rules["lockdowns"])
        rules["overrides"] = [o for o in rules["overrides"] if o["name"] != name]
        rules["lockdowns"] = [o for o in rules["lockdowns"] if o["name"] != name]
        if len(rules["overrides"]) + len(rules["lockdowns"]) == before:
            fail(EXIT_REFUSED, f"no exception or lockdown called {name!r}")

    _edit(api_path, change, by, as_json)


@policy.command("sign-app")
@click.argument("folder", type=click.Path(path_type=Path, file_okay=False, exists=True))
@click.option("--app", "app_id", type=TEXT, required=True,
              help="The app's id in the policy's catalogue.")
@click.option("--version", "app_version", type=TEXT, required=True, help="The build's version.")
@click.option("--entry", type=TEXT, required=True, help="The executable, relative to FOLDER.")
@by_option("Who admitted it")
@api_option
@json_option
def sign_app(folder: Path, app_id: str, app_version: str, entry: str, by: str | None,
             api_path: Path, as_json: bool) -> None:
    """Have the gateway sign the manifest of the app in FOLDER (every file's sha256), written
    as FOLDER/manifest.json: this exact build may then run on the wing's tablets."""
    try:
        files = hash_tree(folder)
    except (TreeError, OSError) as exc:
        fail(EXIT_REFUSED, f"{folder}: {exc}")
    result = ApiClient(api_path).call("POST", "/v1/apps/manifest", {
        "app": app_id, "app_version": app_version, "entry": entry, "files": files,
        "by": by or operator()})
    (folder / MANIFEST_NAME).write_text(result["envelope"], encoding="utf-8")
    if as_json:
        show_json({**result, "app": app_id, "app_version": app_version, "files": len(files),
                   "written": str(folder / MANIFEST_NAME)})
        return
    say(f"signed {app_id} {app_version}: {len(files)} file(s) → {folder / MANIFEST_NAME}")
