"""The tablet OS, booted: a Debian trixie test image carrying the Buildroot tree's overlay, units,
nftables rules, RAUC config and compositor setup, started in QEMU (tests/image/builder.py). Each
test reads what the harness inside the guest found (serial console) or QEMU's screendump."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from device.theme import STANDARD
from tests.buildroot.support import overlays, run_post_build
from tests.image.app import CANVAS
from tests.image.builder import BOARD, PROBE_APP, SHELL_WRITABLE, release_config
from tests.image.conftest import BUILT_IN_TILES, Boot
from tests.image.estate import BROKER_PORT, REPOSITORY_PORT, TestEstate
from tests.image.qemu import findings
from tests.image.screen import Screen, close, to_rgb

OUR_UNITS = (
    "cellbridge-network-policy.service",
    "cellbridge-seatd.service",
    "cellbridge-compositor.service",
    "cellbridge-agent.service",
    "cellbridge-shell.service",
)


def expected_hashes(tmp_path: Path, image: Path) -> dict[str, str]:
    """sha256 of every file the Buildroot tree puts into the image, as the tree has it (and as
    its post-build renders it for the image's estate)."""
    hashes = {}
    for overlay in overlays(BOARD):
        for path in overlay.rglob("*"):
            if path.is_file() and not path.is_symlink():
                rel = "/" + str(path.relative_to(overlay))
                hashes[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    rendered = tmp_path / "target"
    result = run_post_build(rendered, BOARD, tmp_path, release_config(TestEstate(image / "estate")))
    assert result.returncode == 0, result.stderr
    for rel in ("/etc/rauc/system.conf", "/etc/rauc/keyring.pem"):
        hashes[rel] = hashlib.sha256((rendered / rel.lstrip("/")).read_bytes()).hexdigest()
    return hashes


def test_the_booted_image_holds_the_buildroot_trees_files_unchanged(
    booted: Boot, tmp_path: Path
) -> None:
    found = {path: digest for path, *rest in booted.find("sha256") for digest in rest[:1] or [""]}
    expected = expected_hashes(tmp_path, booted.image)
    drifted = sorted(p for p in expected if found.get(p) != expected[p])
    assert not drifted, f"the booted image's copies differ from buildroot/: {drifted}"


@pytest.mark.parametrize("unit", OUR_UNITS)
def test_our_units_are_running_after_boot(booted: Boot, unit: str) -> None:
    (state,) = booted.find("unit", unit)
    assert state[0] == "active", f"{unit}: {state}\n{booted.log[-6000:]}"


def test_the_shell_and_compositor_run_as_the_shells_user_and_the_agent_socket_is_its_groups(
    booted: Boot,
) -> None:
    assert booted.find("user-shell") == [["cellbridge-shell"]]
    assert booted.find("user-compositor") == [["cellbridge-shell"]]
    assert booted.find("socket") == [["660", "root:cellbridge-shell"]]


def test_an_installed_app_runs_as_the_shells_user_in_the_shells_sandbox(booted: Boot) -> None:
    app = f"/var/lib/cellbridge/apps/{PROBE_APP}/run"
    assert booted.find("exec", app) == [["ran"]], booted.find("exec")


@pytest.mark.parametrize("folder", SHELL_WRITABLE)
def test_nothing_the_shell_can_write_can_be_run(booted: Boot, folder: str) -> None:
    """A copy of the app in a folder the shell's user can write: written, and refused at exec
    (the data partition is noexec, and the shell's unit allows exec only from /usr and apps/)."""
    assert booted.find("exec", folder) == [["denied"]], booted.find("exec")


@pytest.mark.parametrize("port", [BROKER_PORT, REPOSITORY_PORT])
def test_the_firewall_lets_out_the_gateways_broker_and_repository(booted: Boot, port: int) -> None:
    """The ports the tablet's enrolment names (network.env): the host's wing answers on both."""
    (result,) = booted.find("probe", f"gateway:{port}")
    assert result[0] == "connected", result


@pytest.mark.parametrize("target", ["gateway:22", "gateway:80", "gateway:3128", "10.0.2.3:53",
                                    "1.1.1.1:443"])
def test_the_firewall_blocks_everything_else(booted: Boot, target: str) -> None:
    (result,) = booted.find("probe", target)
    assert result[0] == "timeout" and int(result[1]) > 0, result


def test_the_shell_fills_the_screen_with_its_home_screen_once_its_gateway_answers(
    booted: Boot,
) -> None:
    """Enrolled, connected to the host's wing (policy and signed time): the shell's home screen,
    fullscreen on the kiosk compositor, with the built-in tiles and then the catalogue's app."""
    assert booted.seen.tiles, booted.seen.failure
    screen = Screen.read(booted.screens / "screen.ppm")
    colour, share = screen.dominant()
    assert close(colour, to_rgb(STANDARD.bg)) and share > 0.5, screen.colours().most_common(4)
    assert len(booted.seen.tiles) == BUILT_IN_TILES + 1, booted.seen.tiles
    text = to_rgb(STANDARD.tile_text)
    assert sum(c for rgb, c in screen.colours().items() if close(rgb, text)) > 200, "no names"


def test_a_tap_on_an_installed_apps_tile_shows_the_app_instead_of_the_shell(booted: Boot) -> None:
    """The agent installed Paint from the host's repository (released and sealed there); a tap on
    its tile (an absolute pointer, through the compositor) and the kiosk shows Paint's canvas
    over the whole screen."""
    assert booted.seen.app_seconds, booted.seen.failure
    colour, share = Screen.read(booted.screens / "app.ppm").dominant()
    assert close(colour, to_rgb(CANVAS), 12) and share > 0.5, (colour, share)
    print(f"Paint filled the screen {booted.seen.app_seconds:.0f} s after the tap")


def test_a_staff_lock_puts_the_shells_lock_screen_over_a_running_app(booted: Boot) -> None:
    """`staff lock --device` at the host's gateway while Paint is shown: the shell closes Paint
    and its lock screen fills the screen; after `staff unlock` the home screen is back."""
    assert booted.seen.lock_seconds, booted.seen.failure
    colour, share = Screen.read(booted.screens / "locked.ppm").dominant()
    assert close(colour, to_rgb(STANDARD.lock)) and share > 0.5, (colour, share)
    assert booted.seen.home_again, booted.seen.failure
    print(f"the lock screen replaced Paint {booted.seen.lock_seconds:.0f} s after `staff lock`")


def test_the_shell_runs_on_unrestarted_through_the_app_the_lock_and_the_unlock(booted: Boot
                                                                               ) -> None:
    """The guest watches the shell's unit from before the tap until the update's reboot: one
    process, never restarted. (Its fail-closed starting screen has the lock screen's colours: a
    shell killed by its watchdog while an app covered it once passed for a lock.)"""
    log = booted.guest.log()  # the boot goes on: what it said until now, the drive included
    watched = [words[1:] for words in findings(log) if words[0] == "ab-shell"]
    assert watched, "the guest never reported the shell's unit"
    assert {(pid, restarts) for pid, restarts, *_ in watched} == {(watched[0][0], "0")}, (
        watched, [line for line in log.splitlines() if line.startswith("CBLOG shell")])
