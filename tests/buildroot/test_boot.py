"""Boot and disk layout: A/B slots carry the boot files, the boot state is a raw partition, everything
is found by PARTUUID, the console is where the Pi puts it, and the data partition grows."""

from __future__ import annotations

import re

import pytest

from tests.buildroot.support import (
    BOARDS,
    COMMON_OVERLAY,
    TREE,
    board_meta,
    defconfig,
    parse_config,
)

COMMON_MARK = "# --- common to every board from here"
ROOT_ARM64 = "b921b045-1df0-41c3-af44-4c6f280d3fae"
LINUX_GENERIC = "0fc63daf-8483-4772-8e79-3d69d8477de4"


def boot_cmd(board: str) -> str:
    return (TREE / "board" / board / "boot.cmd").read_text()


def board_vars(board: str) -> dict[str, str]:
    """The `setenv cb_* VALUE` facts at the top of a board's boot.cmd."""
    head = boot_cmd(board).split(COMMON_MARK)[0]
    return {
        m.group(1): m.group(2).strip().strip('"')
        for m in re.finditer(r"^setenv (cb_\w+)(.*)$", head, re.M)
    }


def partitions(board: str) -> list[dict[str, str]]:
    """The disk image's partitions in order, each with its name and settings."""
    text = (TREE / "board" / board / "genimage.cfg").read_text()
    disk = text[text.index("hdimage") :]
    found = []
    for m in re.finditer(r"^\tpartition ([\w-]+) \{\n(.*?)^\t\}", disk, re.M | re.S):
        settings = dict(re.findall(r'^\t\t([\w-]+) = "?([^"\n]*)"?$', m.group(2), re.M))
        found.append({"name": m.group(1), **settings})
    return found


def fw_env() -> list[str]:
    lines = (COMMON_OVERLAY / "etc" / "fw_env.config").read_text().splitlines()
    (entry,) = [line.split() for line in lines if line.strip() and not line.startswith("#")]
    return entry


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_boards_share_one_boot_script_body(board: str) -> None:
    bodies = {b: boot_cmd(b).split(COMMON_MARK)[1] for b in BOARDS}
    assert bodies[board] == bodies["rpi4"]


def test_the_boot_script_adds_to_bootargs_sets_fdt_high_and_never_saves_the_environment() -> None:
    body = boot_cmd("rpi4").split(COMMON_MARK)[1]
    assert "saveenv" not in body
    assert re.search(r'^setenv bootargs "\$\{bootargs\} ', body, re.M)
    assert re.search(r"^setenv fdt_high 0xffffffffffffffff$", body, re.M)
    assert "root=PARTUUID=${cb_rootuuid}" in body
    assert "part uuid ${cb_devtype} ${cb_devnum}:${rootpart} cb_rootuuid" in body
    # The state is read and written as raw blocks of the cbstate partition, nothing else.
    assert "${cb_devtype} write ${loadaddr} ${cb_state_blk} ${cb_state_blks}" in body
    assert len(re.findall(r"^\$\{cb_devtype\} write ", body, re.M)) == 1


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_the_console_is_the_pl011_ttyama0_everywhere(board: str) -> None:
    assert board_vars(board)["cb_console"] == "console=ttyAMA0,115200"
    assert parse_config(defconfig(board).read_text())["BR2_TARGET_GENERIC_GETTY_PORT"] == '"ttyAMA0"'


def test_the_pi_disables_bluetooth_on_the_uart_and_drives_the_official_dsi_display() -> None:
    config = (TREE / "board" / "rpi4" / "config.txt").read_text().splitlines()
    overlays = [line.split("=", 1)[1] for line in config if line.startswith("dtoverlay=")]
    assert "enable_uart=1" in config
    assert {"disable-bt", "vc4-kms-dsi-7inch"} <= set(overlays)
    # The kernel boots with the slot's device tree: boot.cmd applies the same overlays to it.
    assert sorted(board_vars("rpi4")["cb_overlays"].split()) == sorted(overlays)
    assert board_vars("rpi4")["cb_dtb"] == "bcm2711-rpi-4-b.dtb"


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_partitions_are_gpt_found_by_fixed_partuuid_and_agree_with_boot_script_rauc_and_fw_env(
    board: str,
) -> None:
    text = (TREE / "board" / board / "genimage.cfg").read_text()
    assert 'partition-table-type = "gpt"' in text
    parts = partitions(board)
    names = [p["name"] for p in parts]
    assert names == ["cbboot", "cbstate", "cbroot-a", "cbroot-b", "cbdata"]
    number = {p["name"]: str(i + 1) for i, p in enumerate(parts)}
    uuid = {p["name"]: p["partition-uuid"] for p in parts}
    assert len(set(uuid.values())) == len(parts)
    v = board_vars(board)
    assert (v["cb_state_part"], v["cb_root_a_part"], v["cb_root_b_part"]) == (
        number["cbstate"], number["cbroot-a"], number["cbroot-b"]
    )
    meta = board_meta(board)
    assert meta["ROOTFS_A"] == f"/dev/disk/by-partuuid/{uuid['cbroot-a']}"
    assert meta["ROOTFS_B"] == f"/dev/disk/by-partuuid/{uuid['cbroot-b']}"
    device, offset, size = fw_env()
    assert device == f"/dev/disk/by-partuuid/{uuid['cbstate']}"
    assert (offset, int(size, 16)) == ("0x0000", int(v["cb_state_size"], 16))
    assert {p["partition-type-uuid"] for p in parts if p["name"].startswith("cbroot")} == {ROOT_ARM64}


def test_the_boot_partition_holds_only_the_boot_loader_and_is_never_mounted() -> None:
    units = COMMON_OVERLAY / "etc" / "systemd" / "system"
    assert not list(units.glob("*.mount")) or all(
        "/boot" not in u.read_text() for u in units.glob("*.mount")
    )


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_the_data_partition_is_last_and_the_only_one_systemd_repart_grows(board: str) -> None:
    parts = partitions(board)
    assert parts[-1]["name"] == "cbdata"
    assert "size" not in parts[-1]
    repart = (COMMON_OVERLAY / "usr" / "lib" / "repart.d" / "50-cbdata.conf").read_text()
    assert re.search(r"^Type=linux-generic$", repart, re.M)
    assert [p["name"] for p in parts if p["partition-type-uuid"] == LINUX_GENERIC] == ["cbdata"]
    mount = (COMMON_OVERLAY / "etc" / "systemd" / "system" / "var-lib-cellbridge.mount").read_text()
    assert "What=/dev/disk/by-partlabel/cbdata" in mount
    assert "systemd-repart.service" in (
        COMMON_OVERLAY / "etc" / "systemd" / "system" / "cellbridge-growfs-data.service"
    ).read_text()
    config = parse_config(defconfig(board).read_text())
    assert config.get("BR2_PACKAGE_SYSTEMD_REPART") == "y"


def test_the_qemu_target_has_a_software_renderer_for_the_shell() -> None:
    config = parse_config(defconfig("qemu-aarch64").read_text())
    assert "y" in {
        config.get("BR2_PACKAGE_MESA3D_GALLIUM_DRIVER_SOFTPIPE"),
        config.get("BR2_PACKAGE_MESA3D_GALLIUM_DRIVER_LLVMPIPE"),
    }


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_every_board_runs_the_kiosk_compositor_with_a_seat_manager(board: str) -> None:
    config = parse_config(defconfig(board).read_text())
    for symbol in (
        "BR2_PACKAGE_WESTON",
        "BR2_PACKAGE_WESTON_DRM",
        "BR2_PACKAGE_WESTON_SHELL_KIOSK",
        "BR2_PACKAGE_SEATD_DAEMON",
        "BR2_PACKAGE_MESA3D_OPENGL_EGL",
        "BR2_PACKAGE_MESA3D_OPENGL_ES",
    ):
        assert config.get(symbol) == "y" or (
            symbol == "BR2_PACKAGE_WESTON_DRM" and config.get("BR2_PACKAGE_WESTON_DEFAULT_DRM") == "y"
        ), symbol


def test_the_post_image_state_partition_starts_with_both_slots_and_three_attempts() -> None:
    image_steps = (TREE / "scripts" / "lib" / "image.sh").read_text()
    assert "BOOT_ORDER=A B" in image_steps and "BOOT_A_LEFT=3" in image_steps
    assert "make_boot_state" in (TREE / "scripts" / "post-image.sh").read_text()


def test_buildroot_is_pinned_to_one_release_by_tag_and_commit() -> None:
    values = dict(
        line.split("=", 1)
        for line in (TREE / "buildroot.version").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert re.fullmatch(r"20\d\d\.\d\d(\.\d+)?", values["BUILDROOT_RELEASE"])
    assert re.fullmatch(r"[0-9a-f]{40}", values["BUILDROOT_COMMIT"])

