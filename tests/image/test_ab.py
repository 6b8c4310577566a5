"""RAUC A/B in the booted test image: staff roll out an OS release (a real bundle: the tree's
make-bundle.sh, verity, signed, install-check hook) from the host's gateway; the agent's update
engine fetches it through TUF from the gateway's repository, installs it into the other slot
(`rauc install`), activates it and reboots; in the new slot its health check (connected to the
gateway, the shell watching) passes and it commits (`rauc status mark-good`) and tells the
gateway. A bundle whose agent never starts is never committed and, once its attempts are spent,
the machine is back on the slot before.

RAUC runs with the tree's system.conf (`bootloader=uboot`): it reads and writes the boot state
with fw_printenv/fw_setenv through the tree's fw_env.config, in the raw cbstate partition. The
host plays U-Boot's boot.cmd (`bootstate.boot_from`: read the block, spend an attempt of the first
slot in BOOT_ORDER with attempts left, write the block) before each boot. Boots (one QEMU run
each; a reboot ends QEMU):

  1 A  the checks of test_boot.py, Paint, then the rollout: the engine installs good -> B,
       activates B and reboots                                       (conftest.booted)
  2 B  the engine's health check passes, it marks B good; install bad -> A by hand
       (`rauc install`, mark-active A)
  3 A  bad: the agent never starts; nothing marks A good               (BOOT_A_LEFT 3 -> 2)
  4 A  bad                                                             (2 -> 1)
  5 A  bad                                                             (1 -> 0)
  6 B  A has no attempts left: B, which the agent confirms again; RAUC: A bad, B booted

Boots 3 to 5 end when the tablet reboots itself: at the agent's fifth failure in a row
cellbridge-agent-failed.service (its OnFailure=) sees A on trial with B to fall back to and reboots. The
step script only waits (`fallback`); had nothing rebooted the machine within 900 s it would say
so and reboot it, and the tests fail.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.image import bootstate
from tests.image.conftest import Boot
from tests.image.estate import DEVICE_ID
from tests.image.qemu import Guest, findings
from tests.image.wing import HostWing

BOOT_TIMEOUT_S = float(os.environ.get("CELLBRIDGE_IMAGE_BOOT_TIMEOUT", "1200"))
INSTALL_TIMEOUT_S = 3600.0  # the first boot's tap, download and install, after its checks

# After the first boot: the slot boot.cmd's rules must choose, and the steps the guest runs.
PLAN = [
    ("B", "commit,status,install:bad"),
    ("A", "fallback"),
    ("A", "fallback"),
    ("A", "fallback"),
    ("B", "commit,status"),
]


@dataclass
class AbBoot:
    slot: str | None
    state_before: dict[str, str] | None
    """The block as the host left it for this boot (after spending the attempt)."""
    state_after: dict[str, str] | None
    """The block after the guest's reboot."""
    log: str
    seconds: float
    rollout: dict[str, Any] | None = None
    """`staff update status --json` at the host's gateway after this boot."""

    def find(self, key: str) -> list[list[str]]:
        return [r[1:] for r in findings(self.log) if r[:1] == [key]]

    def status(self) -> dict[str, object]:
        (line,) = re.findall(r"^CBTEST ab-status (.*)$", self.log, re.M)
        return json.loads(line)  # type: ignore[no-any-return]


def read_state(disk: Path) -> dict[str, str] | None:
    return bootstate.decode(bootstate.read_block(disk))


@pytest.fixture(scope="session")
def boots(booted: Boot, wing: HostWing) -> Iterator[list[AbBoot]]:
    """All six boots: the first (already running) to its reboot, then the plan."""
    started = time.monotonic()
    log = booted.guest.wait_exit(INSTALL_TIMEOUT_S)
    done = [AbBoot(booted.slot, booted.state, read_state(booted.disk), log,
                   booted.seconds + time.monotonic() - started,
                   wing.staff_json("update", "status"))]
    work = booted.guest.work.parent
    for n, (expected, steps) in enumerate(PLAN, start=2):
        choice = bootstate.boot_from(booted.disk)
        if choice.slot != expected:  # recorded; the tests say what differs
            done.append(AbBoot(choice.slot, choice.state, None, "", 0.0))
            break
        guest = Guest(booted.image, work / f"boot-{n}", disk=booted.disk, slot=choice.slot,
                      append=f"cbtest.ab={steps} cbtest.checks=0", drives=(booted.drive,))
        guest.work.mkdir()
        began = time.monotonic()
        guest.start()
        try:
            log = guest.wait_exit(BOOT_TIMEOUT_S)
        finally:
            guest.stop()
        done.append(AbBoot(choice.slot, choice.state, read_state(booted.disk), log,
                           time.monotonic() - began, wing.staff_json("update", "status")))
    for i, boot in enumerate(done, start=1):
        print(f"A/B boot {i}: slot {boot.slot}, {boot.seconds:.0f} s, block after {boot.state_after}")
    yield done


def slots(status: dict[str, object]) -> dict[str, dict[str, object]]:
    """bootname -> slot status, from `rauc status --detailed --output-format=json`."""
    found = {}
    for entry in status["slots"]:  # type: ignore[attr-defined]
        for name, slot in entry.items():
            if slot.get("bootname"):
                found[slot["bootname"]] = dict(slot, name=name)
    return found


def test_the_host_boots_the_slots_boot_cmd_chooses(boots: list[AbBoot]) -> None:
    assert [b.slot for b in boots] == ["A", *[slot for slot, _ in PLAN]]


def reported(boot: AbBoot) -> dict[str, Any]:
    """What the tablet last told the gateway about its update, and the rollout's stage."""
    assert boot.rollout is not None
    (rollout,) = boot.rollout["rollouts"]
    (row,) = [t for t in boot.rollout["tablets"] if t["id"] == DEVICE_ID]
    return {"stage": rollout["stage"], **(row["reported"] or {})}


def test_the_update_engine_installs_the_rolled_out_release_into_the_other_slot_and_reboots(
    booted: Boot, boots: list[AbBoot],
) -> None:
    first = boots[0]
    assert not booted.rollout.startswith("refused"), booted.rollout
    assert not first.find("ab-no-update"), first.log[-4000:]
    assert first.state_after is not None
    assert first.state_after["BOOT_ORDER"].split()[0] == "B", first.state_after
    assert int(first.state_after["BOOT_B_LEFT"], 16) == bootstate.ATTEMPTS
    print(f"boot 1 to the engine's reboot: {first.seconds:.0f} s; gateway: {reported(first)}")


def test_the_machine_boots_the_new_slot_and_the_engine_commits_it_after_its_health_check(
    boots: list[AbBoot],
) -> None:
    second = boots[1]
    assert second.slot == "B"
    (boot,) = second.find("ab-boot")
    assert boot[:4] == ["B", "/dev/vda4", "good", "0.2.0"], boot  # the bundle's root file system
    assert second.find("ab-agent")[0][0] == "active", second.log[-4000:]
    # The host spent one of B's attempts (3 -> 2); the engine's mark-good refilled them.
    assert second.state_before is not None and second.state_before["BOOT_B_LEFT"] == "2"
    assert second.find("ab-commit")[0][1] == "3", second.log[-4000:]
    # ...and nothing else marks slots good in this image.
    (unit,) = second.find("ab-mark-good-unit")
    assert unit[1] != "active", unit
    status = second.status()
    assert status["booted"] == "B"
    assert slots(status)["B"]["boot_status"] == "good"
    # The engine committed the trial (its health check passed) and told the gateway. (The
    # report's `running` is not checked: the last report of this boot may be composed while the
    # step script's `rauc install` of the bad bundle keeps RAUC busy, and then it is empty.)
    seen = reported(second)
    assert (seen["state"], seen["version"], seen["stage"]) == ("committed", "0.2.0", "done"), seen


def test_the_bad_bundle_installs_and_its_slot_is_never_committed(boots: list[AbBoot]) -> None:
    second = boots[1]
    (install,) = second.find("ab-install")
    assert install[:2] == ["bad", "0"], second.log[-4000:]
    assert second.find("ab-activate") == [["rootfs.0", "0"]]
    bad = boots[2:5]
    assert [b.slot for b in bad] == ["A", "A", "A"]
    for boot, left in zip(bad, ("2", "1", "0"), strict=True):
        assert boot.state_before is not None and boot.state_before["BOOT_A_LEFT"] == left
        assert boot.state_after is not None
        assert boot.state_after["BOOT_A_LEFT"] == left, (boot.state_after, boot.log[-3000:])


FALLBACK = re.compile(r"cellbridge-agent-failed: the agent failed (\d+) times on slot (\S+) "
                      r"\((\S+)\), which is not marked good in this boot: rebooting \((\S+): "
                      r"(\d+) attempts left, (\S+): (\d+)\)")


def test_a_slot_whose_agent_cannot_start_is_rebooted_by_the_tablet_itself(
    boots: list[AbBoot],
) -> None:
    """No one power-cycles the tablet: at the agent's fifth failure in a row
    cellbridge-agent-failed.service reboots the slot on trial, each time."""
    for boot, left in zip(boots[2:5], ("2", "1", "0"), strict=True):
        assert not boot.find("ab-no-fallback"), boot.log[-4000:]
        said = FALLBACK.findall(boot.log)
        assert said and said[0][1:] == ("A", "0.3.0", "A", left, "B", "3"), boot.log[-4000:]
        assert int(said[0][0]) >= 5
        print(f"slot A, {left} attempts left: the tablet rebooted itself after {boot.seconds:.0f} s")


def test_when_the_attempts_run_out_the_machine_is_back_on_the_good_slot(
    boots: list[AbBoot],
) -> None:
    last = boots[5]
    assert last.slot == "B"
    (boot,) = last.find("ab-boot")
    assert boot[:3] == ["B", "/dev/vda4", "good"], boot
    status = last.status()
    assert status["booted"] == "B"
    assert slots(status)["A"]["boot_status"] == "bad", status
    assert last.state_before is not None and last.state_before["BOOT_B_LEFT"] == "2"
    assert last.find("ab-commit")[0][1] == "3", last.log[-4000:]
