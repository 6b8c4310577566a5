"""Who did it is the OS account on the other end of the API socket, not what `--by` says; and only
the staff group may connect at all (issue 13, defect 9)."""

from __future__ import annotations

import grp
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.caller_api import recorded_by
from tests.support.gateway import REPO_ROOT, Gateway

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("useradd") is None,
    reason="creating throwaway users and groups (useradd/groupadd) needs root",
)

# The venv's Python lives under /root (mode 0700): another account cannot start it. So the CLI is
# loaded as root and the process then drops to the account before it runs the command, exactly
# as if that account had typed it.
AS_ACCOUNT = """
import os, sys
import cellbridge.cli, gateway.staff, gateway.staff.client, httpx, h11, anyio, idna, encodings.idna
from anyio._backends import _asyncio
uid, gid, groups = int(sys.argv[1]), int(sys.argv[2]), [int(g) for g in sys.argv[3].split(",") if g]
os.setgroups(groups); os.setgid(gid); os.setuid(uid)
sys.argv = ["cellbridge", *sys.argv[4:]]
cellbridge.cli.main()
"""


@dataclass(frozen=True)
class Account:
    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]


@pytest.fixture
def staff_group() -> Iterator[str]:
    name = f"cbst{uuid.uuid4().hex[:8]}"
    subprocess.run(["groupadd", name], check=True)
    yield name
    subprocess.run(["groupdel", name], check=False)


@pytest.fixture
def make_account() -> Iterator[object]:
    made: list[str] = []

    def make(*groups: str) -> Account:
        name = f"cbu{uuid.uuid4().hex[:8]}"
        extra = ["-G", ",".join(groups)] if groups else []
        subprocess.run(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin", *extra, name],
                       check=True)
        made.append(name)
        info = subprocess.run(["id", "-u", name], capture_output=True, text=True, check=True)
        uid = int(info.stdout)
        gid = int(subprocess.run(["id", "-g", name], capture_output=True, text=True,
                                 check=True).stdout)
        return Account(name, uid, gid, tuple(grp.getgrnam(g).gr_gid for g in groups))

    yield make
    for name in made:
        subprocess.run(["userdel", name], check=False)


def as_account(account: Account, gateway: Gateway, *args: str
               ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", AS_ACCOUNT, str(account.uid), str(account.gid),
         ",".join(map(str, account.groups)), *args],
        capture_output=True, text=True, env=gateway.env(), cwd=REPO_ROOT, timeout=60,
    )


def staff_entries(gateway: Gateway) -> list[tuple[str, str]]:
    return [(e["actor"], e["action"]) for e in gateway.staff_json("audit")["entries"]
            if e["actor"].startswith("staff:")]


@needs_root
def test_the_audit_names_the_os_account_that_acted_and_keeps_by_only_as_a_note(
        make_gateway, staff_group, make_account):
    gateway = make_gateway(tablets=[("T1", "1", "A")], api_group=staff_group)
    alice = make_account(staff_group)
    result = as_account(alice, gateway, "staff", "lock", "--device", "T1", "--reason",
                        "search", "--by", "officer.smith")
    assert "Traceback" not in result.stderr, result.stderr
    assert staff_entries(gateway) == [(f"staff:os:{alice.name} (officer.smith)", "lock")]
    # Without --by the CLI sends the account's own name: nothing beside the verified one.
    as_account(alice, gateway, "staff", "unlock", "--device", "T1", "--reason", "done")
    assert staff_entries(gateway)[-1] == (f"staff:os:{alice.name}", "unlock")


@needs_root
def test_an_account_outside_the_staff_group_cannot_connect(make_gateway, staff_group,
                                                           make_account):
    gateway = make_gateway(tablets=[("T1", "1", "A")], api_group=staff_group)
    mallory = make_account()
    result = as_account(mallory, gateway, "staff", "lock", "--device", "T1", "--reason", "x",
                        "--by", "officer.smith")
    assert result.returncode != 0 and "Traceback" not in result.stderr
    assert "not readable" in result.stderr or "Permission denied" in result.stderr, result.stderr
    assert staff_entries(gateway) == []


@needs_root
def test_the_socket_belongs_to_the_staff_group_mode_0660(make_gateway, staff_group):
    gateway = make_gateway(api_group=staff_group)
    info = gateway.api_socket.stat()
    assert info.st_mode & 0o777 == 0o660
    assert info.st_gid == grp.getgrnam(staff_group).gr_gid


def test_without_the_staff_group_the_socket_is_the_gateways_own_mode_0600(make_gateway):
    gateway = make_gateway(api_group=f"no-such-group-{uuid.uuid4().hex[:6]}")
    assert gateway.api_socket.stat().st_mode & 0o777 == 0o600
    assert "no group" in Path(gateway.log_path).read_text()
    assert gateway.staff("status").returncode == 0  # its own account still may


def test_what_is_recorded_is_the_verified_account_with_a_differing_note_beside_it():
    assert recorded_by("alice", None) == "os:alice"
    assert recorded_by("alice", "alice") == "os:alice"
    assert recorded_by("alice", "officer.smith") == "os:alice (officer.smith)"
    long = recorded_by("alice", "x" * 120)
    assert len(long) == 120 and long.startswith("os:alice (xxx") and long.endswith("…)")
