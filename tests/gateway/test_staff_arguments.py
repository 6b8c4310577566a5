"""Whatever staff type, a staff command ends in one `Error:` line and exit code 2, never a
traceback: text that is not UTF-8, blank text, and waits of nan, inf or below zero are refused by
the argument types before anything is sent to the gateway."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.staff import staff
from tests.support.gateway import REPO_ROOT

NOT_UTF8 = b"search \xff"
HOSTILE: list[list[str | bytes]] = [
    ["lock", "--device", "T1", "--reason", NOT_UTF8],
    ["lock", "--device", "T1", "--reason", b"\xc3("],  # a truncated two-byte sequence
    ["lock", "--device", b"T\xff", "--reason", "search"],
    ["unlock", "--wing", "--reason", "all clear", "--by", b"\xfe\xff"],
    ["lock", "--device", "T1", "--reason", "   "],
    ["lock", "--device", "T1", "--reason", ""],
    ["lock", "--device", "T1"],
    ["lock", "--device", "T1", "--reason"],
    ["lock", "--device", "T1", "--reason", "search", "--wait", "nan"],
    ["lock", "--device", "T1", "--reason", "search", "--wait", "NaN"],
    ["lock", "--device", "T1", "--reason", "search", "--wait", "inf"],
    ["lock", "--device", "T1", "--reason", "search", "--wait", "1e999"],
    ["lock", "--device", "T1", "--reason", "search", "--wait", "-1"],
    ["lock", "--device", "T1", "--reason", "search", "--wait", "soon"],
    ["policy", "apply", "wing.toml", "--wait", "nan"],
    ["policy", "profile", "enhanced", "--device", "T1", "--by", NOT_UTF8],
    ["policy", "curfew", "exception", "--name", NOT_UTF8, "--start", "2026-12-24T22:00",
     "--end", "2026-12-25T00:30"],
    ["policy", "curfew", "remove", b"\xff"],
    ["requests", "reply", b"\xff", "--text", "yes"],
    ["requests", "reply", "0" * 32, "--text", NOT_UTF8],
    ["requests", "list", "--device", b"\xff"],
    ["update", "start", "--id", "r1", "--target", "os/x.raucb", "--version", "1.4.0",
     "--canary", "T1", "--max-failures", "nan"],
    ["audit", "--limit", "0"],
    ["status", "--no-such-option"],
    ["no-such-command"],
]
IDS = [" ".join(os.fsdecode(a) for a in args).encode("unicode_escape").decode()
       for args in HOSTILE]


def refused_in_one_line(exit_code: int, stdout: str, stderr: str) -> None:
    assert "Traceback" not in stdout + stderr
    assert (exit_code, stdout) == (2, ""), stderr
    assert stderr.startswith("Error: ") and stderr.count("\n") == 1, stderr
    assert stderr.rstrip("\n").isprintable()


@pytest.mark.parametrize("args", HOSTILE, ids=IDS)
def test_hostile_arguments_in_process(args: list[str | bytes], tmp_path: Path) -> None:
    # What Python makes of argv bytes that are not UTF-8: surrogate escapes.
    argv = [os.fsdecode(a) for a in args]
    result = CliRunner().invoke(staff, argv, env={"CELLBRIDGE_GATEWAY_API":
                                                  str(tmp_path / "none.sock")})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    refused_in_one_line(result.exit_code, result.stdout, result.stderr)


@pytest.mark.parametrize("args", HOSTILE, ids=IDS)
def test_hostile_arguments_from_a_shell(args: list[str | bytes], tmp_path: Path) -> None:
    env = {**os.environ, "CELLBRIDGE_GATEWAY_API": str(tmp_path / "none.sock"),
           "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-m", "cellbridge", "staff", *args],
                            capture_output=True, env=env, cwd=REPO_ROOT, timeout=60)
    refused_in_one_line(result.returncode, result.stdout.decode(), result.stderr.decode())


def test_a_reason_is_sent_as_typed_once_it_is_text(tmp_path: Path) -> None:
    # The refusals above are of the arguments only: a good reason with any other characters
    # reaches the gateway (here: none at that socket, so exit 3).
    result = CliRunner().invoke(staff, ["lock", "--device", "T1", "--reason", "search \u202e 中",
                                        "--wait", "0.5", "--api", str(tmp_path / "none.sock")])
    assert result.exit_code == 3 and "unreachable" in result.stderr


@pytest.mark.parametrize("field", ["--device", "--cell", "--landing"])
def test_gateway_register_refuses_text_that_is_not_utf8_in_one_line(
    field: str, tmp_path: Path
) -> None:
    args = {"--device": "T1", "--cell": "C1", "--landing": "L1"}
    argv: list[str | bytes] = ["gateway", "register", "--api", str(tmp_path / "none.sock")]
    for name, value in args.items():
        argv += [name, NOT_UTF8 if name == field else value]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    result = subprocess.run([sys.executable, "-m", "cellbridge", *argv],
                            capture_output=True, env=env, cwd=REPO_ROOT, timeout=60)
    assert "Traceback" not in result.stderr.decode()
    assert result.returncode == 2
    assert f"Error: Invalid value for '{field}': not UTF-8 text" in result.stderr.decode()
