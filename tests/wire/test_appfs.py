"""The appfs image: what `release app` packs the tablet accepts and unpacks to the same app
folder, files owned by nobody in particular and with one of two modes."""

from __future__ import annotations

import os
import tarfile
from pathlib import Path

import pytest

from common.appfs import pack, unpack
from wire.appfs import HostileImage, check_members
from wire.manifest import MANIFEST_NAME


def app_folder(root: Path) -> Path:
    (root / "bin").mkdir(parents=True)
    (root / "bin" / "run").write_text("#!/bin/sh\n")
    (root / "bin" / "run").chmod(0o700)
    (root / "data").mkdir()
    (root / "data" / "content.bin").write_bytes(b"\x00" * 100)
    (root / "data" / "content.bin").chmod(0o600)
    (root / MANIFEST_NAME).write_text("{}")
    return root


def test_a_packed_app_passes_the_tablets_check_and_unpacks_to_the_same_files(
    tmp_path: Path,
) -> None:
    folder = app_folder(tmp_path / "app")
    image = pack(folder, tmp_path / "appfs.tar")
    with tarfile.open(image) as tar:
        members = tar.getmembers()
    check_members(members)
    assert {(m.name, m.uid, m.gid, m.mtime, oct(m.mode)) for m in members} == {
        ("bin", 0, 0, 0, "0o755"), ("bin/run", 0, 0, 0, "0o755"), ("data", 0, 0, 0, "0o755"),
        ("data/content.bin", 0, 0, 0, "0o644"), (MANIFEST_NAME, 0, 0, 0, "0o644")}
    unpack(image, tmp_path / "installed")
    assert (tmp_path / "installed" / "data" / "content.bin").read_bytes() == b"\x00" * 100
    assert os.stat(tmp_path / "installed" / "bin" / "run").st_mode & 0o777 == 0o755


def test_an_unpacked_app_is_open_to_the_launcher_whatever_the_installers_umask(
    tmp_path: Path,
) -> None:
    """The agent runs with umask 0007; the app runs as the shell's user, who must enter its
    folder and every folder in it, read its files and run its executables."""
    image = pack(app_folder(tmp_path / "app"), tmp_path / "appfs.tar")
    before = os.umask(0o077)
    try:
        unpack(image, tmp_path / "installed")
    finally:
        os.umask(before)
    modes = {path.relative_to(tmp_path).as_posix(): oct(path.stat().st_mode & 0o777)
             for path in [tmp_path / "installed", *(tmp_path / "installed").rglob("*")]}
    assert modes == {"installed": "0o755", "installed/bin": "0o755", "installed/bin/run": "0o755",
                     "installed/data": "0o755", "installed/data/content.bin": "0o644",
                     f"installed/{MANIFEST_NAME}": "0o644"}


def test_packing_twice_gives_the_same_bytes(tmp_path: Path) -> None:
    folder = app_folder(tmp_path / "app")
    assert pack(folder, tmp_path / "a.tar").read_bytes() == \
        pack(folder, tmp_path / "b.tar").read_bytes()


def test_an_unsealed_folder_or_one_with_a_symlink_is_not_packed(tmp_path: Path) -> None:
    folder = app_folder(tmp_path / "app")
    (folder / "data" / "link").symlink_to("/etc/passwd")
    with pytest.raises(HostileImage, match="data/link is neither a regular file nor a folder"):
        pack(folder, tmp_path / "x.tar")
    (folder / "data" / "link").unlink()
    (folder / MANIFEST_NAME).unlink()
    with pytest.raises(HostileImage, match="sign the app first"):
        pack(folder, tmp_path / "x.tar")


def test_a_file_that_is_no_tar_is_refused_and_nothing_is_made(tmp_path: Path) -> None:
    (tmp_path / "bad.tar").write_bytes(b"not a tar at all" * 64)
    with pytest.raises(HostileImage, match="not a readable appfs image"):
        unpack(tmp_path / "bad.tar", tmp_path / "installed")
    assert not (tmp_path / "installed").exists()
