"""Kernel and U-Boot fragments: the lockdown holds and no fragment undoes another."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.buildroot.support import BOARDS, TREE, defconfig, parse_config

_SET = re.compile(r"^(CONFIG_\w+)=(.*)$")
_UNSET = re.compile(r"^# (CONFIG_\w+) is not set$")


def fragment_files(board: str, symbol: str) -> list[Path]:
    value = parse_config(defconfig(board).read_text())[symbol] or ""
    paths = value.strip('"').replace("$(BR2_EXTERNAL_CELLBRIDGE_PATH)", str(TREE)).split()
    return [Path(p) for p in paths]


def settings(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if m := _SET.match(line):
            values[m.group(1)] = m.group(2)
        elif m := _UNSET.match(line):
            values[m.group(1)] = "n"
    return values


def merged(board: str, symbol: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for path in fragment_files(board, symbol):
        values.update(settings(path))
    return values


@pytest.mark.parametrize("board", sorted(BOARDS))
@pytest.mark.parametrize(
    "symbol", ["BR2_LINUX_KERNEL_CONFIG_FRAGMENT_FILES", "BR2_TARGET_UBOOT_CONFIG_FRAGMENT_FILES"]
)
def test_no_fragment_contradicts_another(board: str, symbol: str) -> None:
    seen: dict[str, tuple[str, Path]] = {}
    clashes = []
    for path in fragment_files(board, symbol):
        for name, value in settings(path).items():
            if name in seen and seen[name][0] != value:
                clashes.append((name, seen[name], (value, path)))
            seen[name] = (value, path)
    assert clashes == []


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_the_kernel_has_no_vt_sysrq_removable_media_or_raw_memory(board: str) -> None:
    kernel = merged(board, "BR2_LINUX_KERNEL_CONFIG_FRAGMENT_FILES")
    for option in (
        "CONFIG_VT",
        "CONFIG_MAGIC_SYSRQ",
        "CONFIG_USB_STORAGE",
        "CONFIG_USB_UAS",
        "CONFIG_BLK_DEV_SR",
        "CONFIG_FIREWIRE",
        "CONFIG_DEVMEM",
        "CONFIG_KEXEC",
        "CONFIG_BT",
    ):
        assert kernel.get(option) == "n", option


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_the_kernel_has_what_the_image_needs(board: str) -> None:
    kernel = merged(board, "BR2_LINUX_KERNEL_CONFIG_FRAGMENT_FILES")
    for option in (
        "CONFIG_SQUASHFS",
        "CONFIG_DM_VERITY",
        "CONFIG_NF_TABLES_INET",
        "CONFIG_WATCHDOG",
        "CONFIG_DRM",
        "CONFIG_INPUT_TOUCHSCREEN",
        "CONFIG_SECCOMP_FILTER",
    ):
        assert kernel.get(option) == "y", option


def test_the_pi_kernel_drives_its_display_touch_screen_and_wifi() -> None:
    kernel = merged("rpi4", "BR2_LINUX_KERNEL_CONFIG_FRAGMENT_FILES")
    for option in (
        "CONFIG_DRM_VC4",
        "CONFIG_TOUCHSCREEN_RASPBERRYPI_FW",
        "CONFIG_TOUCHSCREEN_EDT_FT5X06",
        "CONFIG_BRCMFMAC",
    ):
        assert kernel.get(option) in {"y", "m"}, option


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_u_boot_cannot_be_interrupted_and_never_writes_the_boot_partition(board: str) -> None:
    uboot = merged(board, "BR2_TARGET_UBOOT_CONFIG_FRAGMENT_FILES")
    assert uboot["CONFIG_BOOTDELAY"] == "-2"
    # The A/B state is the raw cbstate partition, written by boot.scr (tests/buildroot/test_boot.py):
    # U-Boot's own environment lives nowhere and cannot be saved to the FAT partition.
    assert uboot["CONFIG_ENV_IS_NOWHERE"] == "y"
    assert uboot.get("CONFIG_ENV_IS_IN_FAT") == "n"
    assert uboot.get("CONFIG_CMD_SAVEENV") == "n"
    for needed in ("CONFIG_CMD_PART", "CONFIG_PARTITION_UUIDS", "CONFIG_CMD_IMPORTENV",
                   "CONFIG_CMD_EXPORTENV", "CONFIG_OF_LIBFDT_OVERLAY", "CONFIG_FS_SQUASHFS"):
        assert uboot.get(needed) == "y", needed
