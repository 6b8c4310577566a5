"""`cellbridge --help` can stand in for a man page, and the shell completion the README documents
is really there: every command below `cellbridge` (the `staff` commands have their own tests)
says what it does, every option and argument is explained, and click's completion scripts for
bash and zsh come out of the installed command."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cellbridge.cli import main

REPO_ROOT = Path(__file__).resolve().parents[2]
CELLBRIDGE = Path(sys.executable).parent / "cellbridge"
NOT_HERE = {"staff"}  # the staff commands' help is tested with them (tests/gateway)


def commands() -> Iterator[tuple[str, click.Command]]:
    """Every command and group below `cellbridge` (but the staff tree), by its full name."""

    def walk(command: click.Command, name: str,
             ctx: click.Context) -> Iterator[tuple[str, click.Command]]:
        yield name, command
        if isinstance(command, click.Group):
            for sub_name in command.list_commands(ctx):
                if ctx.parent is None and sub_name in NOT_HERE:
                    continue
                sub = command.get_command(ctx, sub_name)
                assert sub is not None, f"{name} lists {sub_name} but has no such command"
                yield from walk(sub, f"{name} {sub_name}",
                                click.Context(sub, info_name=sub_name, parent=ctx))

    yield from walk(main, "cellbridge", click.Context(main, info_name="cellbridge"))


COMMANDS = dict(commands())


def test_the_walk_reaches_every_part_of_the_front_door() -> None:
    assert {"cellbridge demo request", "cellbridge release os", "cellbridge provision enrol",
            "cellbridge agent run", "cellbridge gateway register", "cellbridge prison run",
            "cellbridge shell"} <= set(COMMANDS)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_explains_itself_its_options_and_its_arguments(name: str) -> None:
    command = COMMANDS[name]
    assert (command.help or "").strip(), f"{name} has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert (param.help or "").strip(), f"{name} {param.opts[0]} has no help text"
        if isinstance(param, click.Argument):
            assert param.human_readable_name in (command.help or ""), (
                f"{name}: its help does not say what {param.human_readable_name} is")


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_help_page_shows_whole(name: str) -> None:
    result = CliRunner().invoke(main, [*name.split()[1:], "--help"], prog_name="cellbridge")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: {name} ")
    first_sentence = " ".join((COMMANDS[name].help or "").split()).split(". ")[0]
    assert first_sentence[:60] in " ".join(result.stdout.split())
    assert "..." not in result.stdout.split("\n", 1)[1]  # no sub-command's help cut short


def completion(shell_mode: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The installed `cellbridge` (this checkout first on its path) asked for completion."""
    return subprocess.run(
        [str(CELLBRIDGE)], capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "_CELLBRIDGE_COMPLETE": shell_mode,
             **env})


@pytest.mark.parametrize(("shell", "marker"), [("bash", "complete -o nosort -F"),
                                               ("zsh", "#compdef cellbridge")])
def test_the_completion_script_for_each_documented_shell_is_produced(shell: str,
                                                                     marker: str) -> None:
    result = completion(f"{shell}_source")
    assert result.returncode == 0, result.stderr
    assert marker in result.stdout and "_CELLBRIDGE_COMPLETE" in result.stdout
    readme = (REPO_ROOT / "README.md").read_text()
    assert f"_CELLBRIDGE_COMPLETE={shell}_source" in readme  # the README's line is this one


def test_completion_offers_the_commands_that_match_what_was_typed() -> None:
    result = completion("bash_complete", COMP_WORDS="cellbridge pro", COMP_CWORD="1")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["plain,provision"]
    options = completion("bash_complete", COMP_WORDS="cellbridge release os --pro",
                         COMP_CWORD="3")
    assert "plain,--progress" in options.stdout.split()
