"""Packing and unpacking `appfs` images (the format: `wire.appfs`).

`pack` is IT's side (`cellbridge release app`): it builds an image from a sealed app folder,
deterministically. `unpack` is the tablet's side and trusts nothing in the image: every member
is checked (`wire.appfs.check_members`) before a byte is written, then extracted with tarfile's
`data` filter as a second line, each file synced. What is unpacked is then checked whole by
`agent.apps.verify_app`.
"""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path

from wire.appfs import MAX_BYTES, MAX_MEMBERS, HostileImage, check_members, member_mode
from wire.manifest import MANIFEST_NAME


def pack(folder: Path, output: Path) -> Path:
    """Write the appfs image of the app in `folder` (which must hold its sealed manifest).

    Raises HostileImage for what an app folder may not hold (symlinks, device nodes, FIFOs).
    """
    folder = Path(folder)
    if not (folder / MANIFEST_NAME).is_file():
        raise HostileImage(f"{folder} has no {MANIFEST_NAME}: sign the app first "
                           "(`cellbridge staff policy sign-app`)")
    entries: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for name in [*dirnames, *sorted(filenames)]:
            path = Path(dirpath) / name
            rel = path.relative_to(folder).as_posix()
            mode = path.lstat().st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                raise HostileImage(f"{rel} is neither a regular file nor a folder")
            entries.append((rel, path))
    if len(entries) > MAX_MEMBERS:
        raise HostileImage(f"more than {MAX_MEMBERS} files and folders")
    with tarfile.open(output, "w", format=tarfile.PAX_FORMAT) as tar:
        for rel, path in sorted(entries):
            info = tar.gettarinfo(str(path), arcname=rel)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            info.mode = member_mode(info.isdir(), info.mode)
            if info.isdir():
                tar.addfile(info)
            else:
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
    return output


def unpack(image: Path, destination: Path, max_bytes: int = MAX_BYTES) -> None:
    """Unpack `image` into the new folder `destination` (which must not exist), every file and
    folder synced. Raises HostileImage (a bad image) or OSError (e.g. the disk is full); on
    either, what was written is left for the caller to remove."""
    try:
        with tarfile.open(image, "r:") as tar:
            members = _read_members(tar)
            check_members(members, max_bytes)
            destination.mkdir()
            # Explicitly, not through mkdir's mode: the agent's umask (0007) would leave the
            # app's folder closed to the shell's user, who runs the app (found by the boot test).
            os.chmod(destination, member_mode(True, 0))
            for member in members:
                tar.extract(member, destination, set_attrs=False, filter="data")
                os.chmod(destination / member.name, member_mode(member.isdir(), member.mode))
    except (tarfile.TarError, EOFError) as exc:
        raise HostileImage(f"not a readable appfs image: {exc}") from exc
    _sync_tree(destination)


def _read_members(tar: tarfile.TarFile) -> list[tarfile.TarInfo]:
    """The members, stopping as soon as there are too many (tarfile would read them all)."""
    members: list[tarfile.TarInfo] = []
    while (member := tar.next()) is not None:
        members.append(member)
        if len(members) > MAX_MEMBERS:
            raise HostileImage(f"more than {MAX_MEMBERS} members")
    return members


def _sync_tree(root: Path) -> None:
    """fsync every file, then every folder (deepest first), so the tree is on disk before the
    rename that makes it the app."""
    folders: list[str] = []
    for dirpath, _dirnames, filenames in os.walk(root, followlinks=False):
        folders.append(dirpath)
        for name in filenames:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY | os.O_NOFOLLOW)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    for dirpath in reversed(folders):
        fd = os.open(dirpath, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
