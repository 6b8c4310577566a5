"""The A/B boot state block as `boot.cmd` keeps it in the raw `cbstate` partition, and the
slot choice `boot.cmd` makes from it, for the boot test's host: a direct-kernel QEMU boot has no
U-Boot, so the host reads the block from the disk before each boot, chooses the slot exactly as
`boot.cmd` does, writes the block back (the attempt it counts) and boots that slot's root.

The block is U-Boot's environment format, one copy (`fw_env.config`, `cb_state_size`):
a little-endian CRC32 of the data area, then `NAME=value` strings each ending in NUL, the list
ending in an empty string; the rest of the area is padding. RAUC writes it with `fw_setenv`.
tests/buildroot/test_image_bootchooser.py checks `choose` against `boot.cmd`'s own lines.
"""

from __future__ import annotations

import json
import re
import struct
import subprocess
import zlib
from dataclasses import dataclass
from pathlib import Path

SIZE = 0x4000  # boot.cmd's cb_state_size, fw_env.config's size
NAMES = ("BOOT_ORDER", "BOOT_A_LEFT", "BOOT_B_LEFT")  # all boot.cmd imports and exports
DEFAULT_ORDER = "A B"
ATTEMPTS = 3
SLOTS = ("A", "B")


def decode(block: bytes) -> dict[str, str] | None:
    """The variables of an environment block; None when its CRC does not match (as U-Boot's
    `env import -c` refuses it: boot.cmd then uses its defaults)."""
    if len(block) < 5:
        return None
    (crc,) = struct.unpack_from("<I", block)
    data = block[4:]
    if zlib.crc32(data) != crc:
        return None
    env: dict[str, str] = {}
    for entry in data.split(b"\0"):
        if not entry:
            break
        name, sep, value = entry.decode("latin-1").partition("=")
        if sep:
            env[name] = value
    return env


def encode(env: dict[str, str], size: int = SIZE) -> bytes:
    """`env export -c -s size` of `env`: CRC32, the strings sorted by name (U-Boot's order),
    NUL padding."""
    data = b"".join(f"{name}={value}".encode("latin-1") + b"\0" for name, value in sorted(env.items()))
    data += b"\0"
    if len(data) > size - 4:
        raise ValueError("environment larger than the block")
    data = data.ljust(size - 4, b"\0")
    return struct.pack("<I", zlib.crc32(data)) + data


def _test_number(value: str) -> int:
    """U-Boot's `test A -gt B` reads a decimal number (what does not parse is 0)."""
    digits = re.match(r"-?[0-9]*", value.strip())
    return int(digits.group()) if digits and digits.group() not in ("", "-") else 0


@dataclass(frozen=True)
class Choice:
    slot: str | None
    """The slot to boot; None: no slot had attempts left (boot.cmd resets both and resets)."""
    state: dict[str, str]
    """What boot.cmd writes back to the block before booting."""


def choose(env: dict[str, str] | None) -> Choice:
    """boot.cmd's decision, line for line: only the three names are imported (an unreadable
    block: none); a missing name gets its default; the first slot of BOOT_ORDER with attempts
    left is chosen and one attempt spent; none left: both get ATTEMPTS again and no slot boots."""
    imported = {name: value for name, value in (env or {}).items() if name in NAMES}
    order = imported.get("BOOT_ORDER") or DEFAULT_ORDER
    left = {slot: imported.get(f"BOOT_{slot}_LEFT") or str(ATTEMPTS) for slot in SLOTS}
    chosen = None
    for slot in order.split():
        if chosen is None and slot in SLOTS and _test_number(left[slot]) > 0:
            # setexpr reads and writes hexadecimal (the same digits for 0 to 9)
            left[slot] = format(int(left[slot], 16) - 1, "x")
            chosen = slot
    if chosen is None:
        left = {slot: str(ATTEMPTS) for slot in SLOTS}
    return Choice(chosen, {"BOOT_ORDER": order, **{f"BOOT_{s}_LEFT": left[s] for s in SLOTS}})


# ---------------------------------------------------------------- on a disk image


def partition_offset(disk: Path, number: int) -> tuple[int, int]:
    """Byte offset and size of partition `number` of a GPT disk image (sfdisk's view)."""
    table = json.loads(subprocess.run(["sfdisk", "--json", str(disk)], capture_output=True,
                                      text=True, check=True).stdout)["partitiontable"]
    sector = int(table.get("sectorsize", 512))
    for part in table["partitions"]:
        if part["node"][len(str(disk)):] == str(number):
            return part["start"] * sector, part["size"] * sector
    raise LookupError(f"{disk} has no partition {number}")


STATE_PARTITION = 2  # cbstate (genimage.cfg, boot.cmd's cb_state_part)


def read_block(disk: Path) -> bytes:
    offset, _ = partition_offset(disk, STATE_PARTITION)
    with disk.open("rb") as f:
        f.seek(offset)
        return f.read(SIZE)


def write_block(disk: Path, block: bytes) -> None:
    offset, size = partition_offset(disk, STATE_PARTITION)
    assert len(block) <= size
    with disk.open("r+b") as f:
        f.seek(offset)
        f.write(block)


def boot_from(disk: Path) -> Choice:
    """What U-Boot running boot.cmd does to `disk` before the kernel starts: read, choose, write."""
    choice = choose(decode(read_block(disk)))
    write_block(disk, encode(choice.state))
    return choice
