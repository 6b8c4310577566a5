"""The tablet OS, booted: a Debian trixie test image carrying the Buildroot tree's overlay, units,
nftables rules, RAUC config and compositor setup, started in QEMU (tests/image/builder.py). Each
test reads what the harness inside the guest found (serial console) or QEMU's screendump."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest

from device.theme import STANDARD
from tests.buildroot.support import overlays, run_post_build
from tests.image.builder import (
    BOARD,
    BROKER_PORT,
    PROBE_APP,
    PROXY_PORT,
    REPOSITORY_PORT,
    SHELL_WRITABLE,
)
from tests.image.conftest import Boot
from tests.image.qemu import read_ppm

OUR_UNITS = (
    "cellbridge-network-policy.service",
    "cellbridge-seatd.service",
    "cellbridge-compositor.service",
    "cellbridge-agent.service",
    "cellbridge-shell.service",
)


def expected_hashes(tmp_path: Path) -> dict[str, str]:
    """sha256 of every file the Buildroot tree puts into the image, as the tree has it."""
    hashes = {}
    for overlay in overlays(BOARD):
        for path in overlay.rglob("*"):
            if path.is_file() and not path.is_symlink():
                rel = "/" + str(path.relative_to(overlay))
                hashes[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    rendered = tmp_path / "target"
    result = run_post_build(rendered, BOARD, tmp_path)
    assert result.returncode == 0, result.stderr
    for rel in ("/etc/rauc/system.conf", "/etc/rauc/keyring.pem"):
        hashes[rel] = hashlib.sha256((rendered / rel.lstrip("/")).read_bytes()).hexdigest()
    return hashes


def test_the_booted_image_holds_the_buildroot_trees_files_unchanged(
    booted: Boot, tmp_path: Path
) -> None:
    found = {path: digest for path, *rest in booted.find("sha256") for digest in rest[:1] or [""]}
    expected = expected_hashes(tmp_path)
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


@pytest.mark.parametrize("port", [BROKER_PORT, REPOSITORY_PORT, PROXY_PORT])
def test_the_firewall_lets_out_the_gateways_service_ports(booted: Boot, port: int) -> None:
    (result,) = booted.find("probe", f"gateway:{port}")
    # Answered by QEMU's network (refused there when the host has nothing on that port): a packet
    # the ruleset dropped could never have been answered.
    assert result[0] in {"connected", "ECONNREFUSED"}, result


@pytest.mark.parametrize("target", ["gateway:22", "gateway:80", "10.0.2.3:53", "1.1.1.1:443"])
def test_the_firewall_blocks_everything_else(booted: Boot, target: str) -> None:
    (result,) = booted.find("probe", target)
    assert result[0] == "timeout" and int(result[1]) > 0, result


def test_the_shell_fills_the_screen_with_its_fail_closed_screen(booted: Boot) -> None:
    """No policy has arrived (no gateway answers here): the shell shows its lock or curfew screen,
    fullscreen on the kiosk compositor, with its text on it (QEMU's screendump of the display)."""
    width, height, pixels = read_ppm(booted.screen)
    counts = Counter(pixels[i : i + 3] for i in range(0, len(pixels), 3))
    (dominant, n), *_ = counts.most_common(1)
    assert n > 0.5 * width * height, f"no surface fills the screen: {counts.most_common(5)}"
    surfaces = {name: to_rgb(getattr(STANDARD, name)) for name in ("lock", "curfew")}
    assert any(close(dominant, rgb) for rgb in surfaces.values()), (
        f"the screen's surface {tuple(dominant)} is none of the shell's {surfaces}"
    )
    text = to_rgb(STANDARD.lock_text if close(dominant, surfaces["lock"]) else STANDARD.curfew_text)
    assert sum(c for rgb, c in counts.items() if close(rgb, text)) > 200, "no text on the screen"


def to_rgb(colour: tuple[float, float, float, float]) -> bytes:
    return bytes(round(c * 255) for c in colour[:3])


def close(a: bytes, b: bytes, tolerance: int = 6) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))
