"""One style across the staff commands, checked by walking click's command tree: every command and
group has help text, a group's help lists each sub-command's first sentence whole, every command
takes `--json`, and every command that reads (status, list, show, log, check, jobs, audit) prints
valid JSON with it against a real gateway — so a command added later without them fails here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import click
from click.testing import CliRunner

from gateway.staff import staff
from tests.support.gateway import Gateway

EXAMPLE = Path(__file__).resolve().parents[2] / "gateway" / "policies" / "example.toml"
READS = {"status", "list", "show", "log", "check", "jobs", "audit"}
"""Commands whose output a script may read."""


def walk(command: click.Command, path: tuple[str, ...] = ()
         ) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in sorted(command.commands.items()):
            yield from walk(sub, (*path, name))


def leaves() -> list[tuple[tuple[str, ...], click.Command]]:
    """Every command that does something: a plain command, or a group that runs on its own."""
    return [(path, c) for path, c in walk(staff) if path and (
        not isinstance(c, click.Group) or c.invoke_without_command)]


def test_every_command_and_group_has_help_text() -> None:
    missing = [" ".join(path) for path, c in walk(staff) if not (c.help or "").strip()]
    assert not missing


def test_no_group_help_cuts_a_sub_command_short() -> None:
    cut = []
    for path, command in walk(staff):
        if isinstance(command, click.Group):
            shown = CliRunner(env={"COLUMNS": "80"}).invoke(staff, [*path, "--help"]).stdout
            listing = shown.split("Commands:", 1)[1]
            if "..." in listing:
                cut.append(" ".join(path))
    assert not cut


def test_every_command_takes_json() -> None:
    without = [" ".join(path) for path, c in leaves()
               if not any("--json" in p.opts for p in c.params if isinstance(p, click.Option))]
    assert not without


def test_every_reading_command_prints_valid_json(gateway: Gateway) -> None:
    runner = CliRunner()
    api = ["--api", str(gateway.api_socket)]
    assert runner.invoke(staff, ["policy", "apply", str(EXAMPLE), *api]).exit_code == 0
    added = runner.invoke(staff, ["prisoner", "add", "A1234BC", "--name", "Ann Lee", "--cell",
                                  "C1", *api])
    assert added.exit_code == 0, added.output
    arguments: dict[tuple[str, ...], list[str]] = {
        ("web", "log"): ["--device", "T1"],
        ("web", "check"): ["--device", "T1", "www.gov.uk"],
        ("prisoner", "show"): ["A1234BC"],
    }
    reads = [path for path, _ in leaves() if path[-1] in READS]
    assert len(reads) >= 12
    bad = []
    for path in reads:
        result = runner.invoke(staff, [*path, *arguments.get(path, []), "--json", *api])
        try:
            json.loads(result.stdout)
        except ValueError:
            bad.append((path, result.exit_code, result.stdout[:200], result.stderr[:200]))
            continue
        if result.exit_code != 0:
            bad.append((path, result.exit_code, "", result.stderr[:200]))
    assert not bad
