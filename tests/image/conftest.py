"""The boot test (`make image-test`): every test on the booted image is skipped unless
CELLBRIDGE_IMAGE_TEST=1, so `make test` never builds or boots it (it runs only the host-side
helpers' own tests, such as test_screen.py)."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from device.theme import STANDARD
from tests.image import ab, bootstate, builder
from tests.image.app import APP, CANVAS
from tests.image.estate import DEVICE_ID
from tests.image.qemu import DONE, Guest, findings
from tests.image.screen import RGB, Screen, close, tiles, to_rgb
from tests.image.wing import HostWing

BOOT_TIMEOUT_S = float(os.environ.get("CELLBRIDGE_IMAGE_BOOT_TIMEOUT", "1200"))
SCREEN_TIMEOUT_S = 900.0
"""For each thing the screen must come to show (emulated CPU: Kivy starts in minutes)."""
EMULATOR_ATTEMPTS = 2
EMULATOR_FAULT = "Kernel panic - not syncing"
"""Now and then TCG's emulated CPU faults the kernel early in a boot (seen: in `kfree` from a
cgroup write, 20 s in; in `sched_clock_cpu` while patching code): the first boot is tried again
once, from a fresh copy of the disk. Any other failure, or a second panic, fails the test."""
BUILT_IN_TILES = 3  # Digital skills, Requests, Help and settings: then the catalogue's apps


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        # The boot tests (everything on the built image); the host-side helpers' own tests run
        # in `make test`.
        if here in Path(str(item.fspath)).parents and "image" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.image)
            if os.environ.get("CELLBRIDGE_IMAGE_TEST") != "1":
                item.add_marker(pytest.mark.skip(reason="boot test: run `make image-test`"))


@dataclass
class Boot:
    log: str
    results: list[list[str]]
    screens: Path
    """The screendumps: screen.ppm (home), app.ppm, locked.ppm, home-again.ppm."""
    seen: OnScreen
    rollout: str
    """The staff CLI's answer to the OS rollout started after Paint was shown."""
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
def wing(image: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostWing]:
    """The tablet's wing gateway and broker on this host (10.0.2.2 to the guest), for every boot."""
    host = HostWing(image, tmp_path_factory.mktemp("wing")).start()
    try:
        yield host
    finally:
        host.stop()


def wait_for_screen(guest: Guest, path: Path, shown: Callable[[Screen], bool], what: str,
                    hopeless: Callable[[], str] = lambda: "") -> Screen:
    """Screendumps every few seconds until `shown` holds (bounded); at once when `hopeless`
    says why it never will."""
    deadline = time.monotonic() + SCREEN_TIMEOUT_S
    while True:
        screen = Screen.read(guest.screendump(path))
        if shown(screen):
            return screen
        reason = hopeless()
        if reason:
            raise AssertionError(f"the screen will not show {what}: {reason}")
        if time.monotonic() > deadline:
            raise AssertionError(f"the screen never showed {what} ({path}: "
                                 f"{screen.colours().most_common(4)})\n{guest.log()[-4000:]}")
        time.sleep(5)


@dataclass
class OnScreen:
    """What the host saw on the first boot's screen, driving it as staff and as a prisoner."""

    tiles: list[tuple[int, int, int, int]] = field(default_factory=list)
    """The home screen's tiles, in reading order."""
    app_seconds: float = 0.0
    """From the tap on Paint's tile until Paint's canvas filled the screen."""
    lock_seconds: float = 0.0
    """From `staff lock` until the shell's lock screen filled it instead of Paint."""
    home_again: bool = False
    """After `staff unlock`, the home screen (Paint closed, the shell back)."""
    failure: str = ""
    """The first thing the screen never came to show ("" when all did)."""


def drive_screen(guest: Guest, wing: HostWing, work: Path, seen: OnScreen) -> None:
    """Wait for the home screen with Paint's tile (after the built-in ones), tap it, wait for
    Paint's canvas to fill the screen; lock the tablet from the gateway and wait for the lock
    screen; unlock it and wait for the home screen. Fills `seen` as it goes."""
    tile, bg = to_rgb(STANDARD.tile), to_rgb(STANDARD.bg)

    def home(s: Screen) -> bool:
        return close(s.dominant()[0], bg) and len(tiles(s, tile)) > BUILT_IN_TILES

    def filled_with(colour: RGB, tolerance: int = 6) -> Callable[[Screen], bool]:
        return lambda s: close(s.dominant()[0], colour, tolerance) and s.dominant()[1] > 0.5

    def paint_refused() -> str:
        """The tablet's own word, through the gateway, that Paint will not install."""
        for tablet in wing.staff_json("update", "status")["tablets"]:
            for app in tablet.get("apps", []):
                if app["app"] == APP.app and app["state"] == "refused":
                    return f"{tablet['id']} refused {APP.app}: {app['error']}"
        return ""

    screen = wait_for_screen(guest, work / "screen.ppm", home, "the home screen with Paint's tile",
                             paint_refused)
    seen.tiles = tiles(screen, tile)
    x0, y0, x1, y1 = seen.tiles[BUILT_IN_TILES]
    guest.tap((x0 + x1) // 2, (y0 + y1) // 2, screen.width, screen.height)
    began = time.monotonic()
    wait_for_screen(guest, work / "app.ppm", filled_with(to_rgb(CANVAS), 12), "Paint's canvas")
    seen.app_seconds = time.monotonic() - began
    wing.staff("lock", "--device", DEVICE_ID, "--reason", "Boot test", "--by", "image-test")
    began = time.monotonic()
    wait_for_screen(guest, work / "locked.ppm", filled_with(to_rgb(STANDARD.lock)),
                    "the lock screen instead of Paint")
    seen.lock_seconds = time.monotonic() - began
    wing.staff("unlock", "--device", DEVICE_ID, "--reason", "Boot test", "--by", "image-test")
    wait_for_screen(guest, work / "home-again.ppm", home, "the home screen after the unlock")
    seen.home_again = True


@pytest.fixture(scope="session")
def booted(image: Path, wing: HostWing, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Boot]:
    """The first boot: the harness's checks; then, from the host, a tap on Paint's tile on the
    shell's home screen, and an OS rollout of the good bundle (its engine installs it into B and
    reboots: test_ab goes on from there)."""
    work = tmp_path_factory.mktemp("boot")
    drive = ab.drive(image, work)
    for attempt in range(1, EMULATOR_ATTEMPTS + 1):
        # A writable copy (sparse): the A/B boots write the state block, slot B and the data.
        disk = work / "disk.img"
        builder.run("cp", "--sparse=always", image / "disk.img", disk)
        first = bootstate.boot_from(disk)  # boot.cmd's part: A, one attempt counted
        guest = Guest(image, work / f"boot-1-{attempt}", disk=disk, slot=first.slot or "A",
                      append="cbtest.ab=update", drives=(drive,))
        guest.work.mkdir()
        started = time.monotonic()
        guest.start()
        try:
            log = guest.wait_for(DONE, BOOT_TIMEOUT_S)
            break
        except AssertionError:
            guest.stop()
            if attempt == EMULATOR_ATTEMPTS or EMULATOR_FAULT not in guest.log():
                raise
            builder.log(f"the emulated kernel panicked (boot 1, attempt {attempt}): booting again")
    try:
        seconds = time.monotonic() - started
        seen = OnScreen()
        try:
            drive_screen(guest, wing, work, seen)
        except (AssertionError, RuntimeError) as exc:  # its tests say so; the others still run
            seen.failure = str(exc)
        target = wing.release_os(ab.bundles(image)["good"], ab.GOOD.version)
        try:
            rollout = wing.staff("update", "start", "--id", f"os-{ab.GOOD.version}", "--target",
                                 target, "--version", ab.GOOD.version, "--canary", DEVICE_ID)
        except RuntimeError as exc:  # test_ab says so
            rollout = f"refused: {exc}"
        yield Boot(log, findings(log), work, seen, rollout, image, seconds, guest, disk, drive, first.slot, first.state)
    finally:
        guest.stop()
        keep = os.environ.get("CELLBRIDGE_IMAGE_KEEP")
        if keep:
            import shutil

            shutil.copytree(work, keep, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("*.img", "*.ext4"))
