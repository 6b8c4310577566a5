"""When the agent keeps failing, the tablet falls back from a slot on trial by itself.

systemd starts `cellbridge-agent-failed.service` at every failure of `cellbridge-agent.service`
(its automatic restarts included); from the fifth in a row its script reads the RAUC boot state
with the real `fw_printenv` (here from a block file in the format boot.cmd and RAUC write) and
either reboots (a slot not yet marked good, with another slot to fall back to) or restarts the
agent by hand, which starts the count again. The
`systemctl` it calls is a recorder on PATH: nothing here may reboot the host. The boot test
(tests/image/test_ab.py) proves the same script reboots a real booted image.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.buildroot.support import COMMON_OVERLAY, TREE
from tests.buildroot.units import one, read_unit
from tests.image import bootstate

SCRIPT = COMMON_OVERLAY / "usr" / "libexec" / "cellbridge" / "agent-failed"
SYSTEM = COMMON_OVERLAY / "etc" / "systemd" / "system"
AGAIN = [["reset-failed", "cellbridge-agent.service"],
         ["restart", "--no-block", "cellbridge-agent.service"]]
REBOOT = [["reboot"]]

pytestmark = pytest.mark.skipif(shutil.which("fw_printenv") is None,
                                reason="needs fw_printenv: run `make setup` (libubootenv-tool)")


def state(order: str = "B A", a: str = "3", b: str = "2") -> bytes:
    return bootstate.encode({"BOOT_ORDER": order, "BOOT_A_LEFT": a, "BOOT_B_LEFT": b})


def run(tmp_path: Path, block: bytes | None, cmdline: str = "root=/dev/vda4 rauc.slot=B",
        version: str = "0.3.0", restarts: str = "4", code: int = 0
        ) -> tuple[list[list[str]], str]:
    """Run the script against `block` (None: no block file), the agent's unit having been
    restarted `restarts` times (NRestarts); (the systemctl calls it made besides asking for
    that, its output)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "systemctl.calls"
    recorder = bin_dir / "systemctl"
    recorder.write_text(
        "#!/bin/sh\n"
        f'if [ "$*" = "show -P NRestarts cellbridge-agent.service" ]; then echo {restarts}; exit 0; fi\n'
        f'echo "$*" >> {calls}\n')
    recorder.chmod(0o755)
    for tool in ("fw_printenv", "sed", "tr", "tail"):
        found = shutil.which(tool)
        assert found is not None, tool
        os.symlink(found, bin_dir / tool)
    block_file = tmp_path / "cbstate.bin"
    if block is not None:
        block_file.write_bytes(block)
    config = tmp_path / "fw_env.config"
    config.write_text(f"{block_file} 0x0000 {bootstate.SIZE:#x}\n")
    (tmp_path / "cmdline").write_text(cmdline + "\n")
    (tmp_path / "os-release").write_text(f'NAME="Cellbridge OS"\nVERSION_ID={version}\n')
    result = subprocess.run(
        ["/bin/sh", str(SCRIPT)], capture_output=True, text=True, timeout=30, check=False,
        env={"PATH": str(bin_dir), "CELLBRIDGE_FW_ENV_CONFIG": str(config),
             "CELLBRIDGE_CMDLINE": str(tmp_path / "cmdline"),
             "CELLBRIDGE_OS_RELEASE": str(tmp_path / "os-release")})
    assert result.returncode == code, result.stdout + result.stderr
    made = [line.split() for line in calls.read_text().splitlines()] if calls.exists() else []
    return made, result.stdout + result.stderr


def test_a_slot_on_trial_whose_agent_keeps_failing_is_rebooted(tmp_path: Path) -> None:
    calls, said = run(tmp_path, state(order="B A", a="3", b="2"))
    assert calls == REBOOT
    assert said == ("cellbridge-agent-failed: the agent failed 5 times on slot B (0.3.0), which "
                    "is not marked good in this boot: rebooting (B: 2 attempts left, A: 3)\n")


@pytest.mark.parametrize("restarts", ["0", "3"])
def test_fewer_than_five_failures_in_a_row_are_left_to_systemds_restarts(
    tmp_path: Path, restarts: str
) -> None:
    """OnFailure= runs at every failure, each automatic restart included: before the fifth the
    script does nothing (the boot test found it acting on each one)."""
    calls, said = run(tmp_path, state(order="B A", a="3", b="2"), restarts=restarts)
    assert (calls, said) == ([], "")


@pytest.mark.parametrize("restarts", ["", "x"])
def test_failures_that_cannot_be_counted_are_said_and_left_to_systemd(
    tmp_path: Path, restarts: str
) -> None:
    calls, said = run(tmp_path, state(order="B A", a="3", b="2"), restarts=restarts, code=1)
    assert calls == []
    assert said.startswith("cellbridge-agent-failed: cannot count the agent's failures")


def test_the_last_attempt_of_a_slot_on_trial_reboots_too(tmp_path: Path) -> None:
    calls, _ = run(tmp_path, state(order="A B", a="0", b="3"), cmdline="rauc.slot=A")
    assert calls == REBOOT


def test_a_slot_marked_good_in_this_boot_gets_its_agent_started_again(tmp_path: Path) -> None:
    calls, said = run(tmp_path, state(order="B A", a="3", b="3"))
    assert calls == AGAIN
    assert "slot B (0.3.0) was marked good in this boot: restarting the agent" in said


@pytest.mark.parametrize(("order", "a"), [("B A", "0"), ("B", "3")],
                         ids=["other-has-no-attempts", "other-not-in-boot-order"])
def test_with_no_other_slot_to_fall_back_to_the_agent_is_started_again(
    tmp_path: Path, order: str, a: str
) -> None:
    calls, said = run(tmp_path, state(order=order, a=a, b="2"))
    assert calls == AGAIN
    assert "slot B (0.3.0) is on trial but slot A" in said


@pytest.mark.parametrize("block", [None, b"\0" * bootstate.SIZE,
                                   state()[:4] + b"X" + state()[5:]],
                         ids=["missing", "blank", "crc-wrong"])
def test_a_boot_state_that_cannot_be_read_never_reboots(tmp_path: Path, block: bytes | None) -> None:
    calls, said = run(tmp_path, block)
    assert calls == AGAIN
    assert "the boot state cannot be read" in said


def test_a_boot_without_an_ab_slot_never_reboots(tmp_path: Path) -> None:
    calls, said = run(tmp_path, state(), cmdline="root=/dev/vda3 ro")
    assert calls == AGAIN
    assert "no A/B slot on the kernel command line" in said


@pytest.mark.parametrize("board", ["qemu-aarch64", "rpi4"])
def test_the_full_count_of_attempts_is_boot_cmds(board: str) -> None:
    boot_cmd = (TREE / "board" / board / "boot.cmd").read_text()
    counts = set(re.findall(r"setenv BOOT_[AB]_LEFT (\d+)", boot_cmd))
    (script_count,) = re.findall(r"^ATTEMPTS=(\d+)", SCRIPT.read_text(), re.M)
    assert counts == {script_count} == {str(bootstate.ATTEMPTS)}


def test_the_agent_unit_never_gives_up_and_hands_each_failure_to_the_script() -> None:
    agent = read_unit(SYSTEM / "cellbridge-agent.service")
    handler = read_unit(SYSTEM / "cellbridge-agent-failed.service")
    assert one(agent, "Unit", "OnFailure") == "cellbridge-agent-failed.service"
    assert one(agent, "Service", "Restart") == "always"
    assert one(agent, "Unit", "StartLimitIntervalSec") == "0"
    assert one(handler, "Service", "ExecStart") == "/usr/libexec/cellbridge/agent-failed"
    # The booted slot is on the kernel line: ProcSubset=pid would hide /proc/cmdline (as the
    # boot test found).
    assert "ProcSubset" not in handler["Service"]
    assert "Install" not in handler  # started only by OnFailure=
