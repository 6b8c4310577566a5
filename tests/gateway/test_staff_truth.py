"""The staff CLI against a real gateway and broker says what is true: an unlock that a lockdown
overrides says so (and fails under --wait), and a name the wing does not have — tablet, cell,
landing, prisoner, job, grant, request, rollout, account — is an `Error:` line, exit code 2 and,
where the gateway refused it, an entry in the audit chain.

The CLI runs in-process (click's runner) against the gateway's real Unix socket: the gateway still
reads the caller's OS account from the socket, and tablets answer on the real broker."""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from gateway.staff import staff
from gateway.staff.curfew_words import moment
from tests.support.gateway import Gateway

pytestmark = pytest.mark.timeout(120)

EXAMPLE = Path(__file__).resolve().parents[2] / "gateway" / "policies" / "example.toml"
HELD = ("T1 remain(s) locked by the wing lockdown: lift it with `staff unlock --wing`")


def run(gateway: Gateway, *args: str) -> Result:
    return CliRunner().invoke(staff, [*args, "--api", str(gateway.api_socket)])


def audit_actions(gateway: Gateway) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(run(gateway, "audit", "--json").stdout)["entries"]
    return entries


async def test_unlocking_a_tablet_in_a_wing_lockdown_fails_under_wait_naming_the_lockdown(
    gateway: Gateway, peer: Any,
) -> None:
    async with peer("T1"):
        locked = await gateway.astaff("lock", "--wing", "--reason", "incident")
        result = await gateway.astaff("unlock", "--device", "T1", "--reason", "search over",
                                      "--wait", "20")
    assert locked.returncode == 0, locked.stderr
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"Error: {HELD}\n"


def test_unlocking_a_cell_in_a_wing_lockdown_without_wait_warns_it_stays_locked(
    gateway: Gateway,
) -> None:
    assert run(gateway, "lock", "--wing", "--reason", "incident").exit_code == 0
    result = run(gateway, "unlock", "--cell", "C1", "--reason", "search over")
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ("Warning: T1, T2 remain(s) locked by the wing lockdown: lift it "
                             "with `staff unlock --wing`\n")


async def test_an_unlock_during_a_policy_lockdown_says_until_when_and_fails_under_wait(
    gateway: Gateway, peer: Any,
) -> None:
    assert run(gateway, "policy", "apply", str(EXAMPLE)).exit_code == 0
    london = zoneinfo.ZoneInfo("Europe/London")
    now = dt.datetime.now(london).replace(second=0, microsecond=0)
    # Ends at midday tomorrow: never next to the example's night curfews (22:00-08:00), which
    # would join the lockdown and move the "until" (an end at now + 30 h failed at 16:20).
    start = now - dt.timedelta(hours=1)
    end = (now + dt.timedelta(days=1)).replace(hour=12, minute=0)
    planned = run(gateway, "policy", "curfew", "lockdown", "--name", "Search",
                  "--start", start.strftime("%Y-%m-%dT%H:%M"),
                  "--end", end.strftime("%Y-%m-%dT%H:%M"))
    assert planned.exit_code == 0, planned.output
    async with peer("T1"):
        result = await gateway.astaff("unlock", "--device", "T1", "--reason", "x", "--wait", "20")
    assert (result.returncode, result.stdout) == (1, "")
    until = moment(int(end.timestamp() * 1000), int(now.timestamp() * 1000), london)
    assert result.stderr == (f"Error: The wing is in a lockdown now (Search), until {until}. "
                             "Until then the tablets allow only the always-allowed apps.\n")


UNKNOWN: list[tuple[list[str], str]] = [
    (["lock", "--device", "T-9999", "--reason", "x"], "unknown tablet T-9999"),
    (["lock", "--cell", "C-99", "--reason", "x"], "no tablets in cell 'C-99'"),
    (["unlock", "--landing", "L-99", "--reason", "x"], "no tablets on landing 'L-99'"),
    (["update", "cancel", "R-none"], "no rollout R-none"),
    (["update", "pause", "R-none"], "no rollout R-none"),
    (["update", "resume", "R-none"], "no rollout R-none"),
    (["update", "start", "--id", "r9", "--target", "os/cellbridge-os-1.4.0.raucb",
      "--version", "1.4.0", "--canary", "T-9999"], "unknown tablets T-9999"),
    (["policy", "profile", "standard", "--device", "T-9999"], "unknown tablet T-9999"),
    (["policy", "profile", "nosuch", "--device", "T1"], "unknown profile 'nosuch'"),
    (["requests", "list", "--device", "T-9999"], "no tablet T-9999 in this wing"),
    (["requests", "reply", "99999", "--text", "hi"], "no request '99999'"),
    (["requests", "assign", "99999", "--to", "nobodyx"], "no staff account 'nobodyx'"),
    (["account", "reset", "nosuch"], "no account nosuch"),
    (["account", "disable", "nosuch"], "no account nosuch"),
    (["web", "grant", "--device", "T-9999", "--site", "housing", "--purpose", "x",
      "--until", "2030-01-01"], "T-9999"),
    (["web", "grant", "--prisoner", "Z9999ZZ", "--site", "housing", "--purpose", "x",
      "--until", "2030-01-01"], "Z9999ZZ"),
    (["web", "approve", "99999"], "no grant '99999'"),
    (["web", "revoke", "99999", "--reason", "x"], "no grant '99999'"),
    (["web", "list", "--device", "T-9999"], "no tablet T-9999 in this wing"),
    (["web", "list", "--prisoner", "Z9999ZZ"], "no prisoner Z9999ZZ on this wing"),
    (["web", "log", "--device", "T-9999"], "no tablet T-9999 in this wing"),
    (["web", "check", "--device", "T-9999", "example.org"], "no tablet T-9999 in this wing"),
    (["wipe", "--device", "T-9999", "--reason", "x"], "no tablet 'T-9999'"),
    (["wipe", "approve", "99999"], "no job '99999'"),
    (["reboot", "--device", "T-9999", "--reason", "x"], "no tablet 'T-9999'"),
    (["jobs", "99999"], "no job '99999'"),
    (["jobs", "--device", "T-9999"], "no tablet T-9999 in this wing"),
    (["prisoner", "move", "Z9999ZZ", "--cell", "C1"], "no prisoner Z9999ZZ on this wing"),
    (["prisoner", "release", "Z9999ZZ", "--reason", "x"], "no prisoner Z9999ZZ on this wing"),
    (["prisoner", "transfer", "Z9999ZZ", "--reason", "x"], "no prisoner Z9999ZZ on this wing"),
    (["prisoner", "reset-pin", "Z9999ZZ"], "no prisoner Z9999ZZ on this wing"),
    (["prisoner", "show", "Z9999ZZ"], "no prisoner Z9999ZZ on this wing"),
    (["prisoner", "add", "Z9999ZZ", "--name", "A B", "--cell", "C-99"], "no cell C-99"),
    (["policy", "curfew", "status", "--profile", "nosuch"], "no profile 'nosuch'"),
    (["policy", "curfew", "remove", "nosuch"], "no exception or lockdown called 'nosuch'"),
]
"""Every staff sub-command that takes a name, given one the wing does not have."""
CLIENT_SIDE = {"remove"}
"""Refused by the CLI after reading the policy: the gateway was asked nothing it could refuse."""


def test_every_unknown_name_is_an_error_line_exit_2_and_audited(gateway: Gateway) -> None:
    assert run(gateway, "policy", "apply", str(EXAMPLE)).exit_code == 0
    seen = len(audit_actions(gateway))
    wrong = []
    for args, words in UNKNOWN:
        result = run(gateway, *args)
        entries = audit_actions(gateway)
        new, seen = entries[seen:], len(entries)
        refused = [e for e in new if e["action"].endswith("_refused")]
        audited = bool(refused) or args[-2] in CLIENT_SIDE or args[1] in CLIENT_SIDE
        if (result.exit_code, result.stdout) != (2, "") or \
                not result.stderr.startswith("Error: ") or words not in result.stderr or \
                result.stderr.count("\n") != 1 or not audited:
            wrong.append((args, result.exit_code, result.stdout, result.stderr, new))
    assert not wrong, "\n".join(map(repr, wrong))


def test_a_refusal_is_audited_with_the_caller_route_and_reason(gateway: Gateway) -> None:
    result = run(gateway, "jobs", "--device", "T-9999")
    assert result.exit_code == 2
    entry = audit_actions(gateway)[-1]
    assert (entry["action"], entry["target"]) == ("api_refused", "api:GET /v1/jobs")
    assert entry["actor"].startswith("staff:os:")
    assert entry["detail"]["status"] == 404
    assert entry["detail"]["query"] == "device=T-9999"
