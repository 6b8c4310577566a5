"""The agent's socket as the image sets it up: the agent runs as root under the unit's `UMask=`, in
the setgid directory tmpfiles.d makes for the shell's group; the shell (an unprivileged user in
that group) can connect, and nobody else can. Read from the image's own unit and tmpfiles.d."""

from __future__ import annotations

import os
import shutil
import socket
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.buildroot.support import COMMON_OVERLAY
from tests.buildroot.units import one, read_unit
from tests.support.agents import AgentProcess, TestSigner, write_agent_config
from tests.support.broker import Mosquitto

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="acting as other users needs root")

UNIT = read_unit(COMMON_OVERLAY / "etc" / "systemd" / "system" / "cellbridge-agent.service")
TMPFILES = COMMON_OVERLAY / "usr" / "lib" / "tmpfiles.d" / "cellbridge.conf"
SHELL_GID = 64_201  # stands in for the cellbridge-shell group
SHELL_UID = 64_202
OTHER_UID = OTHER_GID = 64_203


def socket_directory_mode() -> int:
    """The mode tmpfiles.d gives /run/cellbridge (e.g. 2750)."""
    for line in TMPFILES.read_text().splitlines():
        fields = line.split()
        if fields[:2] == ["d", "/run/cellbridge"]:
            return int(fields[2], 8)
    raise AssertionError("tmpfiles.d does not create /run/cellbridge")


def connect_as(path: Path, uid: int, gid: int) -> int:
    """Connect to `path` as `uid`:`gid` (no other groups) in a child: 0, or the errno."""
    pid = os.fork()
    if pid == 0:  # the child only switches identity and connects
        code = 0
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.connect(str(path))
        except OSError as exc:
            code = exc.errno or 99
        except BaseException:
            code = 99
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@pytest.fixture
def agent(broker: Mosquitto) -> Iterator[AgentProcess]:
    # Outside pytest's private tmp_path: the other users must be able to reach the directory.
    root = Path(tempfile.mkdtemp(prefix="cellbridge-run-"))
    root.chmod(0o755)
    run_dir = root / "cellbridge"  # as tmpfiles.d makes /run/cellbridge
    run_dir.mkdir()
    os.chown(run_dir, 0, SHELL_GID)
    run_dir.chmod(socket_directory_mode())
    key = TestSigner().write_public_key(root / "keys" / "gateway.pem")
    config = write_agent_config(
        run_dir,
        device_id="t1",
        wing="w1",
        broker_host=broker.host,
        broker_port=broker.port,
        gateway_keys=[key],
    )
    process = AgentProcess(config).start(umask=int(one(UNIT, "Service", "UMask"), 8))
    try:
        yield process
    finally:
        process.kill()
        shutil.rmtree(root)


def test_the_socket_belongs_to_the_shell_group_readable_and_writable_by_it_alone(
    agent: AgentProcess,
) -> None:
    info = agent.socket_path.stat()
    assert stat.S_ISSOCK(info.st_mode)
    assert (info.st_uid, info.st_gid) == (0, SHELL_GID)
    assert stat.S_IMODE(info.st_mode) == 0o660


def test_the_shell_user_in_its_group_can_connect(agent: AgentProcess) -> None:
    assert connect_as(agent.socket_path, SHELL_UID, SHELL_GID) == 0


def test_a_user_outside_the_shell_group_cannot_connect(agent: AgentProcess) -> None:
    assert connect_as(agent.socket_path, OTHER_UID, OTHER_GID) == 13  # EACCES
