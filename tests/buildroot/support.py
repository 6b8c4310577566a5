"""Helpers for the image tree's tests: where things are, and how to run post-build.sh."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TREE = REPO / "buildroot"
BOARDS = {
    "rpi4": "cellbridge_rpi4_defconfig",
    "qemu-aarch64": "cellbridge_qemu_aarch64_virt_defconfig",
}
COMMON_OVERLAY = TREE / "board" / "common" / "rootfs-overlay"

_ASSIGNMENT = re.compile(r"^(BR2_\w+)=(.*)$")
_UNSET = re.compile(r"^# (BR2_\w+) is not set$")


def defconfig(board: str) -> Path:
    return TREE / "configs" / BOARDS[board]


def parse_config(text: str) -> dict[str, str | None]:
    """Symbol -> value of a defconfig or .config (None for `is not set`); the last one wins."""
    values: dict[str, str | None] = {}
    for line in text.splitlines():
        line = line.strip()
        if m := _ASSIGNMENT.match(line):
            values[m.group(1)] = m.group(2)
        elif m := _UNSET.match(line):
            values[m.group(1)] = None
    return values


def overlays(board: str) -> list[Path]:
    """The rootfs overlays a board's defconfig lists, in order."""
    value = parse_config(defconfig(board).read_text())["BR2_ROOTFS_OVERLAY"] or ""
    paths = value.strip('"').replace("$(BR2_EXTERNAL_CELLBRIDGE_PATH)", str(TREE)).split()
    return [Path(p) for p in paths]


def copy_overlays(board: str, target: Path) -> Path:
    """Lay the board's overlays into `target` the way Buildroot does (later ones win)."""
    target.mkdir(parents=True, exist_ok=True)
    for overlay in overlays(board):
        copy_tree(overlay, target)
    return target


def copy_tree(source: Path, target: Path) -> None:
    """Copy `source` over `target`, replacing files and symlinks already there."""
    for path in sorted(source.rglob("*")):
        dest = target / path.relative_to(source)
        if path.is_dir() and not path.is_symlink():
            dest.mkdir(parents=True, exist_ok=True)
            continue
        if dest.is_symlink() or dest.exists():
            dest.unlink()
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, dest, follow_symlinks=False)


def run_post_build(
    target: Path, board: str, config_dir: Path, extra: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run scripts/post-build.sh on `target` with the board's defconfig plus `extra` lines as .config."""
    config = config_dir / f"{board}.config"
    # A real .config also holds the Kconfig defaults the defconfig leaves out.
    defaults = 'BR2_CELLBRIDGE_OS_VERSION="0.1.0"\n'
    config.write_text(defconfig(board).read_text() + defaults + extra)
    env = {**os.environ, "BR2_CONFIG": str(config), "BINARIES_DIR": str(fake_binaries(config_dir))}
    return subprocess.run(
        ["sh", str(TREE / "scripts" / "post-build.sh"), str(target), str(TREE / "board" / board)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def fake_binaries(where: Path) -> Path:
    """What the kernel and rpi-firmware packages leave in BINARIES_DIR before post-build runs."""
    images = where / "binaries"
    overlays = images / "rpi-firmware" / "overlays"
    overlays.mkdir(parents=True, exist_ok=True)
    (images / "bcm2711-rpi-4-b.dtb").write_bytes(b"dtb")
    for name in ("vc4-kms-v3d-pi4", "vc4-kms-dsi-7inch", "disable-bt", "unused"):
        (overlays / f"{name}.dtbo").write_bytes(name.encode())
    return images


def board_meta(board: str) -> dict[str, str]:
    meta: dict[str, str] = {}
    for line in (TREE / "board" / board / "meta").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            meta[key] = value
    return meta


def prefix(package: Path) -> str:
    return package.name.upper().replace("-", "_")


def mk_variables(package: Path) -> dict[str, str]:
    text = (package / f"{package.name}.mk").read_text().replace("\\\n", " ")
    return {
        m.group(1): m.group(2).strip() for m in re.finditer(r"^(\w+)\s*[+:?]?=\s*(.*)$", text, re.M)
    }


def is_local(package: Path) -> bool:
    return mk_variables(package).get(f"{prefix(package)}_SITE_METHOD") == "local"


def expand(value: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\((\w+)\)", lambda m: variables.get(m.group(1), m.group(0)), value)
