"""Throwaway OS accounts (useradd/groupadd, root only) and running `cellbridge` as one of them, to
test that the control API knows its caller from the socket's peer credentials, not from `--by`."""

from __future__ import annotations

import grp
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

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


MakeAccount = Callable[..., Account]


@pytest.fixture
def staff_group() -> Iterator[str]:
    name = f"cbst{uuid.uuid4().hex[:8]}"
    subprocess.run(["groupadd", name], check=True)
    yield name
    subprocess.run(["groupdel", name], check=False)


@pytest.fixture
def make_account() -> Iterator[MakeAccount]:
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
    """Run `cellbridge ARGS…` against `gateway` as `account`."""
    return subprocess.run(
        [sys.executable, "-c", AS_ACCOUNT, str(account.uid), str(account.gid),
         ",".join(map(str, account.groups)), *args],
        capture_output=True, text=True, env=gateway.env(), cwd=REPO_ROOT, timeout=60,
    )
