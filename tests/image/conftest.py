"""The boot test (`make image-test`): skipped unless CELLBRIDGE_IMAGE_TEST=1, so `make test` never
builds or boots the image."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.image import ab, bootstate, builder
from tests.image.qemu import DONE, Guest, findings

BOOT_TIMEOUT_S = float(os.environ.get("CELLBRIDGE_IMAGE_BOOT_TIMEOUT", "1200"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.image)
            if os.environ.get("CELLBRIDGE_IMAGE_TEST") != "1":
                item.add_marker(pytest.mark.skip(reason="boot test: run `make image-test`"))


@dataclass
class Boot:
    log: str
    results: list[list[str]]
    screen: Path
    image: Path
    seconds: float
    guest: Guest
    """Still running after the checks: it installs the good bundle, then reboots (test_ab)."""
    disk: Path
    """This session's writable copy of the disk (the A/B boots go on with it)."""
    drive: Path
    """The A/B boots' drive (bundles, the guest's steps)."""
    slot: str | None
    """The slot the host chose for this first boot from the disk's boot state (A)."""
    state: dict[str, str]
    """The boot state the host wrote before this boot."""

    def find(self, *key: str) -> list[list[str]]:
        return [r[len(key):] for r in self.results if r[: len(key)] == list(key)]


@pytest.fixture(scope="session")
def image() -> Path:
    return builder.build()


@pytest.fixture(scope="session")
def booted(image: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Boot]:
    work = tmp_path_factory.mktemp("boot")
    # A writable copy (sparse): the A/B boots write the state block, slot B and the data.
    disk = work / "disk.img"
    builder.run("cp", "--sparse=always", image / "disk.img", disk)
    drive = ab.drive(image, work)
    first = bootstate.boot_from(disk)  # boot.cmd's part: A, one attempt counted
    # After its checks the harness installs the good bundle into B and activates it (test_ab).
    guest = Guest(image, work / "boot-1", disk=disk, slot=first.slot or "A",
                  append="cbtest.ab=install:good", drives=(drive,))
    guest.work.mkdir()
    started = time.monotonic()
    guest.start()
    try:
        log = guest.wait_for(DONE, BOOT_TIMEOUT_S)
        seconds = time.monotonic() - started
        screen = guest.screendump(work / "screen.ppm")
        yield Boot(log, findings(log), screen, image, seconds, guest, disk, drive,
                   first.slot, first.state)
    finally:
        guest.stop()
        keep = os.environ.get("CELLBRIDGE_IMAGE_KEEP")
        if keep:
            import shutil

            shutil.copytree(work, keep, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("*.img", "*.ext4"))
