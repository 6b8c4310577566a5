"""The boot test's stand-in for U-Boot (tests/image/bootstate.py) decides as boot.cmd does, and
reads and writes the boot state block in the format boot.cmd, mkenvimage and fw_setenv use."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.buildroot.support import TREE
from tests.image import bootstate
from tests.image.bootstate import Choice, choose, decode, encode

BOARDS = ("qemu-aarch64", "rpi4")


def fresh(a: str = "3", b: str = "3", order: str = "A B") -> dict[str, str]:
    return {"BOOT_ORDER": order, "BOOT_A_LEFT": a, "BOOT_B_LEFT": b}


@pytest.mark.parametrize(
    ("env", "slot", "after"),
    [
        # the factory state (post-image's bootstate.bin): A, one attempt spent
        (fresh(), "A", fresh(a="2")),
        # RAUC's mark-active B after an install: B first
        (fresh(order="B A"), "B", fresh(b="2", order="B A")),
        # B's attempts spent (never marked good): A again
        (fresh(a="3", b="0", order="B A"), "A", fresh(a="2", b="0", order="B A")),
        (fresh(a="0", b="3"), "B", fresh(a="0", b="2")),
        # none left: both reset, nothing boots (boot.cmd resets the machine)
        (fresh(a="0", b="0"), None, fresh()),
        # an unreadable block (CRC wrong) or missing names: the defaults
        (None, "A", fresh(a="2")),
        ({"BOOT_ORDER": "B A"}, "B", fresh(b="2", order="B A")),
        # names boot.cmd does not import are dropped by its export
        ({**fresh(), "bootcmd": "x"}, "A", fresh(a="2")),
        # a slot name boot.cmd does not know is skipped
        (fresh(order="C B"), "B", fresh(b="2", order="C B")),
    ],
)
def test_the_host_chooses_the_slot_as_boot_cmd_does(
    env: dict[str, str] | None, slot: str | None, after: dict[str, str]
) -> None:
    assert choose(env) == Choice(slot, after)


@pytest.mark.parametrize("board", BOARDS)
def test_boot_cmd_has_the_rules_choose_mirrors(board: str) -> None:
    """The lines of boot.cmd that `choose` reproduces: if one changes, this fails and the
    function must follow it."""
    lines = [line.strip() for line in (TREE / "board" / board / "boot.cmd").read_text().splitlines()]
    assert f"setenv cb_state_size {bootstate.SIZE:#x}" in lines
    assert f"setenv cb_state_part {bootstate.STATE_PARTITION}" in lines
    names = " ".join(bootstate.NAMES)
    assert f"env import -c ${{loadaddr}} ${{cb_state_size}} {names}" in lines
    assert f"env export -c -s ${{cb_state_size}} ${{loadaddr}} {names}" in lines
    assert f'test -n "${{BOOT_ORDER}}" || setenv BOOT_ORDER "{bootstate.DEFAULT_ORDER}"' in lines
    for slot in bootstate.SLOTS:
        assert f'test -n "${{BOOT_{slot}_LEFT}}" || setenv BOOT_{slot}_LEFT {bootstate.ATTEMPTS}' in lines
        assert f"if test ${{BOOT_{slot}_LEFT}} -gt 0; then" in lines
        assert f"setexpr BOOT_{slot}_LEFT ${{BOOT_{slot}_LEFT}} - 1" in lines
        assert f"setenv BOOT_{slot}_LEFT {bootstate.ATTEMPTS}" in lines  # none left: reset
    assert 'for BOOT_SLOT in "${BOOT_ORDER}"; do' in lines
    assert 'if test "x${rootpart}" = "x"; then' in lines  # the first slot with attempts wins
    assert 'test "x${rootpart}" = "x" && reset' in lines


def test_the_block_round_trips_and_a_wrong_crc_is_refused() -> None:
    block = encode(fresh(a="2", order="B A"))
    assert len(block) == bootstate.SIZE
    assert decode(block) == fresh(a="2", order="B A")
    assert decode(block[:4] + b"X" + block[5:]) is None
    assert decode(bytes(bootstate.SIZE)) is None  # an empty partition


@pytest.mark.skipif(shutil.which("mkenvimage") is None, reason="needs mkenvimage (u-boot-tools)")
def test_the_block_reads_what_mkenvimage_writes_for_post_image(tmp_path: Path) -> None:
    """post-image.sh makes bootstate.bin with mkenvimage (0xff padding); the boot test's disk
    gets the same block, and the host reads it."""
    image_sh = (TREE / "scripts/lib/image.sh").read_text()
    text = "BOOT_ORDER=A B\nBOOT_A_LEFT=3\nBOOT_B_LEFT=3\n"
    assert f"printf '{text.replace(chr(10), chr(92) + 'n')}'" in image_sh
    (tmp_path / "state.txt").write_text(text)
    subprocess.run(["mkenvimage", "-s", str(bootstate.SIZE), "-o", str(tmp_path / "state.bin"),
                    str(tmp_path / "state.txt")], check=True)
    assert decode((tmp_path / "state.bin").read_bytes()) == fresh()
    assert choose(decode((tmp_path / "state.bin").read_bytes())).slot == "A"


@pytest.mark.skipif(shutil.which("sfdisk") is None, reason="needs sfdisk")
def test_boot_from_reads_chooses_and_writes_the_state_partition(tmp_path: Path) -> None:
    disk = tmp_path / "disk.img"
    subprocess.run(["truncate", "-s", "8M", str(disk)], check=True)
    subprocess.run(["sfdisk", "-q", str(disk)], input="label: gpt\nsize=1MiB\nsize=1MiB\n",
                   text=True, check=True)
    offset, _ = bootstate.partition_offset(disk, 2)
    assert offset == 2 * 1024 * 1024  # p1 at 1 MiB (alignment), 1 MiB long
    bootstate.write_block(disk, encode(fresh(order="B A", b="1")))
    assert bootstate.boot_from(disk).slot == "B"
    assert decode(bootstate.read_block(disk)) == fresh(order="B A", b="0")
    assert bootstate.boot_from(disk).slot == "A"
    assert decode(bootstate.read_block(disk)) == fresh(order="B A", a="2", b="0")
