"""What the A/B boots bring into the guest: two update bundles made by the tree's own
`scripts/make-bundle.sh` (verity, signed with the release key of the image's estate, which its
RAUC keyring trusts, carrying the install-check hook) from the test image's own root file system, and a
drive (ext4, label `cbtest`) holding them and the guest's step script (`guest/ab`).

- good (0.2.0): the test rootfs with its os-release at 0.2.0 and a marker file;
- bad (0.3.0): the same, and the agent's program removed (`/usr/local/bin/cellbridge`, what
  `/usr/bin/cellbridge` points at), so the agent never starts and never marks its slot good.

The bundles are cached beside the disk they are made from (its folder is keyed by every input).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.buildroot.support import TREE, board_meta
from tests.image import bootstate
from tests.image.builder import BOARD, GUEST, log, run
from tests.image.estate import TestEstate

MARKER = "/etc/cellbridge-image-test-rootfs"
# zstd, not mksquashfs's default gzip: on 2 shared cores gzip made ~35 MB of bundle a minute and
# unpacks slowly under the emulated CPU; lz4 (the choice before) is as quick but a third larger,
# and the update engine fetches the good bundle over TLS at about 1 MB/s in the emulated guest.
MKSQUASHFS_ARGS = "-comp zstd"


@dataclass(frozen=True)
class Bundle:
    name: str
    version: str
    broken: bool


GOOD = Bundle("good", "0.2.0", broken=False)
BAD = Bundle("bad", "0.3.0", broken=True)


def debugfs(image: Path, *commands: str) -> str:
    script = image.with_suffix(".debugfs")
    script.write_text("".join(f"{c}\n" for c in commands))
    result = subprocess.run(["debugfs", "-w", "-f", str(script), str(image)],
                            capture_output=True, text=True, check=True)
    script.unlink()
    return result.stdout


def rootfs(disk: Path, out: Path, bundle: Bundle) -> None:
    """Slot A's file system of `disk`, changed for `bundle` and shrunk to its minimum size."""
    offset, size = bootstate.partition_offset(disk, 3)
    mib = 1024 * 1024
    run("dd", f"if={disk}", f"of={out}", "bs=1M", f"skip={offset // mib}", f"count={size // mib}",
        "conv=sparse", "status=none")
    release = subprocess.run(["debugfs", "-R", "cat /usr/lib/os-release", str(out)],
                             capture_output=True, text=True, check=True).stdout
    assert "VERSION_ID=" in release, release
    staged = out.parent / f"{bundle.name}-files"
    staged.mkdir()
    (staged / "os-release").write_text(
        re.sub(r"^VERSION_ID=.*$", f"VERSION_ID={bundle.version}", release, flags=re.M))
    (staged / "marker").write_text(f"{bundle.name} {bundle.version}\n")
    for path in staged.iterdir():
        path.chmod(0o644)
    commands = ["cd /usr/lib", "rm os-release", f"write {staged / 'os-release'} os-release",
                "cd /etc", f"write {staged / 'marker'} {Path(MARKER).name}"]
    if bundle.broken:
        commands.append("rm /usr/local/bin/cellbridge")
    debugfs(out, *commands)
    shutil.rmtree(staged)
    check = subprocess.run(["e2fsck", "-fy", str(out)], capture_output=True, text=True, check=False)
    assert check.returncode in (0, 1), check.stdout + check.stderr  # 1: corrected (counts)
    run("resize2fs", "-M", out, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    header = subprocess.run(["dumpe2fs", "-h", str(out)], capture_output=True, text=True,
                            check=True).stdout
    blocks = int(re.search(r"^Block count:\s+(\d+)", header, re.M).group(1))  # type: ignore[union-attr]
    block_size = int(re.search(r"^Block size:\s+(\d+)", header, re.M).group(1))  # type: ignore[union-attr]
    os.truncate(out, blocks * block_size)


def bundles(image: Path) -> dict[str, Path]:
    """good.raucb and bad.raucb for the disk in `image` (made once, kept beside it)."""
    folder = image / "ab-bundles"
    folder.mkdir(exist_ok=True)
    made = {}
    compatible = board_meta(BOARD)["RAUC_COMPATIBLE"]
    releases = TestEstate(image / "estate").repository()
    for bundle in (GOOD, BAD):
        path = folder / f"{bundle.name}.raucb"
        if not path.exists():
            log(f"bundle {bundle.name} {bundle.version} (once per disk)")
            with tempfile.TemporaryDirectory(dir=folder) as tmp:
                fs = Path(tmp) / "rootfs.ext4"
                rootfs(image / "disk.img", fs, bundle)
                run("sh", TREE / "scripts/make-bundle.sh", compatible, bundle.version, fs,
                    releases.release_cert, releases.release_key, Path(tmp) / "out.raucb",
                    stdout=subprocess.DEVNULL,
                    env={**os.environ, "MKSQUASHFS_ARGS": MKSQUASHFS_ARGS})
                (Path(tmp) / "out.raucb").rename(path)
        made[bundle.name] = path
    return made


def drive(image: Path, work: Path) -> Path:
    """The `cbtest` drive for one run: the bundles and guest/ab."""
    stage = work / "drive"
    stage.mkdir()
    total = 0
    for name, path in bundles(image).items():
        os.link(path, stage / f"{name}.raucb")
        total += path.stat().st_size
    shutil.copy2(GUEST / "ab", stage / "ab")
    out = work / "cbtest.ext4"
    run("truncate", "-s", f"{total * 11 // 10 // (1024 * 1024) + 128}M", out)  # + ext4 metadata
    run("mkfs.ext4", "-q", "-F", "-L", "cbtest", "-d", stage, out)
    shutil.rmtree(stage)
    return out
