"""post-image.sh with the real genimage and rauc: the disk layout and the development bundle."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import pytest

from tests.buildroot.support import BOARDS, TREE, board_meta, copy_overlays, run_post_build

SECTOR = 512
ALIGN = 4 * 1024 * 1024
DEV_KEYRING = TREE / "board" / "common" / "rauc" / "dev" / "ca.cert.pem"
DISK = {"rpi4": "sdcard.img", "qemu-aarch64": "disk.img"}
RELEASE = (
    "\n# BR2_CELLBRIDGE_DEPLOYMENT_DEVELOPMENT is not set\nBR2_CELLBRIDGE_DEPLOYMENT_RELEASE=y\n"
)


def tool(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        pytest.fail(f"{name} is missing: run `make setup`")
    return path


def inputs(board: str, images: Path, work: Path) -> None:
    """What Buildroot leaves in images/ before post-image: a real squashfs root, boot files by name."""
    root = work / "rootfs-tree"
    (root / "boot").mkdir(parents=True)
    (root / "boot" / "Image").write_bytes(os.urandom(96 * 1024))
    subprocess.run(
        [tool("mksquashfs"), str(root), str(images / "rootfs.squashfs"), "-quiet", "-noappend"],
        check=True,
    )
    (images / "boot.scr").write_bytes(b"boot script")
    (images / "u-boot.bin").write_bytes(b"u-boot")
    if board == "rpi4":
        firmware = images / "rpi-firmware"
        (firmware / "overlays").mkdir(parents=True)
        for name in ("start4.elf", "fixup4.dat", "overlays/vc4-kms-v3d.dtbo"):
            (firmware / name).write_bytes(b"firmware")
        shutil.copy(TREE / "board" / "rpi4" / "config.txt", firmware / "config.txt")
        (images / "bcm2711-rpi-4-b.dtb").write_bytes(b"dtb")


def post_image(
    board: str, work: Path, extra: str = ""
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    target = copy_overlays(board, work / "target")
    built = run_post_build(target, board, work, extra)
    assert built.returncode == 0, built.stderr
    # Buildroot's host tools, played by this machine's.
    for subdir, names in (("bin", ("genimage", "rauc", "mkenvimage")), ("sbin", ("mkfs.ext4", "debugfs"))):
        (work / "host" / subdir).mkdir(parents=True)
        for name in names:
            (work / "host" / subdir / name).symlink_to(tool(name))
    images = work / "images"
    images.mkdir()
    inputs(board, images, work)
    (work / "build").mkdir()
    env = {
        **os.environ,
        "BR2_CONFIG": str(work / f"{board}.config"),
        "TARGET_DIR": str(target),
        "HOST_DIR": str(work / "host"),
        "BUILD_DIR": str(work / "build"),
        "PATH": os.environ.get("PATH", "") + ":/usr/sbin:/sbin",
    }
    result = subprocess.run(
        ["sh", str(TREE / "scripts" / "post-image.sh"), str(images), str(TREE / "board" / board)],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    return images, result


@pytest.fixture(scope="module", params=sorted(BOARDS))
def development(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    board: str = request.param
    images, result = post_image(board, tmp_path_factory.mktemp(board))
    assert result.returncode == 0, result.stderr
    return board, images


def partitions(disk: Path) -> list[dict[str, object]]:
    out = subprocess.run(
        [tool("sfdisk"), "--json", str(disk)], capture_output=True, text=True, check=True
    ).stdout
    table = json.loads(out)["partitiontable"]
    assert table["label"] == "gpt"
    parts: list[dict[str, object]] = table["partitions"]
    return parts


def test_the_disk_has_boot_two_equal_root_slots_and_data_on_4mib_boundaries(
    development: tuple[str, Path],
) -> None:
    board, images = development
    parts = partitions(images / DISK[board])
    assert [p["name"] for p in parts] == ["cbboot", "cbstate", "cbroot-a", "cbroot-b", "cbdata"]
    assert [str(p["uuid"]).lower() for p in parts] == [
        f"4cb1d6a0-6c1f-4e0a-9b57-0c8b0a00000{i}" for i in range(1, 6)
    ]
    assert parts[2]["size"] == parts[3]["size"]
    assert all(int(str(p["start"])) * SECTOR % ALIGN == 0 for p in parts)


def test_root_slot_a_holds_this_build_and_fits_its_slot(development: tuple[str, Path]) -> None:
    board, images = development
    slot_a = partitions(images / DISK[board])[2]
    squashfs = (images / "rootfs.squashfs").read_bytes()
    assert len(squashfs) <= int(str(slot_a["size"])) * SECTOR
    with (images / DISK[board]).open("rb") as disk:
        disk.seek(int(str(slot_a["start"])) * SECTOR)
        assert disk.read(len(squashfs)) == squashfs


def test_the_state_partition_starts_with_slot_a_first_and_three_attempts_each(
    development: tuple[str, Path],
) -> None:
    board, images = development
    state = partitions(images / DISK[board])[1]
    with (images / DISK[board]).open("rb") as disk:
        disk.seek(int(str(state["start"])) * SECTOR)
        block = disk.read(0x4000)
    # U-Boot's environment format, as fw_printenv and boot.scr's `env import -c` read it.
    assert int.from_bytes(block[:4], "little") == zlib.crc32(block[4:])
    entries = block[4:].split(b"\0\0")[0].split(b"\0")
    assert entries == [b"BOOT_ORDER=A B", b"BOOT_A_LEFT=3", b"BOOT_B_LEFT=3"]


def test_the_boot_partition_is_labelled_and_holds_the_boot_script(
    development: tuple[str, Path],
) -> None:
    _, images = development
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    label = subprocess.run(
        [tool("mlabel"), "-s", "-i", str(images / "boot.vfat"), "::"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "CBBOOT" in label
    listing = subprocess.run(
        [tool("mdir"), "-b", "-i", str(images / "boot.vfat"), "::"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "::/boot.scr" in listing.split()


def test_the_data_partition_is_labelled_for_its_mount_and_roots_alone(
    development: tuple[str, Path],
) -> None:
    _, images = development
    data = images / "data.ext4"
    label = subprocess.run(
        [tool("e2label"), str(data)], capture_output=True, text=True, check=True
    ).stdout
    assert label.strip() == "cbdata"
    stat = subprocess.run(
        [tool("debugfs"), "-R", "stat /", str(data)], capture_output=True, text=True, check=True
    ).stdout
    assert re.search(r"Mode:\s+0700", stat)


def test_a_development_build_yields_a_bundle_the_development_keyring_verifies(
    development: tuple[str, Path],
) -> None:
    board, images = development
    bundle = images / f"update-{board}-0.1.0.raucb"
    info = subprocess.run(
        [tool("rauc"), f"--keyring={DEV_KEYRING}", "info", "--output-format=shell", str(bundle)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert info.returncode == 0, info.stderr
    assert f"RAUC_MF_COMPATIBLE='{board_meta(board)['RAUC_COMPATIBLE']}'" in info.stdout
    assert "RAUC_MF_VERSION='0.1.0'" in info.stdout


def test_a_release_build_leaves_bundle_signing_to_the_release_tooling(tmp_path: Path) -> None:
    keyring = tmp_path / "estate-ca.pem"
    keyring.write_text("-----BEGIN CERTIFICATE-----\nestate\n-----END CERTIFICATE-----\n")
    root = tmp_path / "root.json"
    root.write_text('{"signed": {"_type": "root"}}\n')
    images, result = post_image(
        "qemu-aarch64",
        tmp_path,
        RELEASE
        + f'BR2_CELLBRIDGE_RELEASE_KEYRING="{keyring}"\n'
        + f'BR2_CELLBRIDGE_TUF_ROOT="{root}"\n',
    )
    assert result.returncode == 0, result.stderr
    assert (images / "disk.img").exists()
    assert list(images.glob("*.raucb")) == []
