"""The `appfs` image of an app release: what the RAUC bundle of `cellbridge release app` carries.

An appfs image is a plain (uncompressed: the bundle's squashfs compresses it) POSIX tar of one
app folder as the tablet runs it: the app's files and its sealed manifest
(`wire.manifest.MANIFEST_NAME`) at the top, regular files and folders only, owned by root,
mode 0755 (folders, executables) or 0644. `pack` builds one from a folder, deterministically;
`unpack` is the tablet side and trusts nothing in it: every member is checked before a byte is
written (only plain relative names, only regular files and folders, no duplicates, at most
`MAX_MEMBERS` members and `max_bytes` in all), then extracted with tarfile's `data` filter as a
second line, each file synced. What is unpacked is then checked whole by `agent.apps.verify_app`.
"""

from __future__ import annotations

import os
import posixpath
import stat
import tarfile
from pathlib import Path

from wire.manifest import MANIFEST_NAME, MAX_FILES

SLOT_CLASS = "appfs"
"""The bundle's image section: `[image.appfs]`."""
IMAGE_NAME = "appfs.tar"
MAX_MEMBERS = MAX_FILES + 1024
"""Files (the manifest's cap plus the manifest) and the folders holding them."""
MAX_BYTES = 2 * 1024**3
_CHUNK = 1024 * 1024


class HostileImage(Exception):
    """The image holds something that cannot be part of an app: nothing of it is kept."""


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
            executable = info.isdir() or bool(info.mode & 0o100)
            info.mode = 0o755 if executable else 0o644
            if info.isdir():
                tar.addfile(info)
            else:
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
    return output


def check_members(members: list[tarfile.TarInfo], max_bytes: int = MAX_BYTES) -> None:
    """Refuse an image whose member list could write outside its folder or anything but plain
    files and folders. Pure; raises HostileImage naming the first problem."""
    if len(members) > MAX_MEMBERS:
        raise HostileImage(f"more than {MAX_MEMBERS} members")
    seen: set[str] = set()
    total = 0
    for member in members:
        name = member.name
        if not _plain_name(name):
            raise HostileImage(f"member {name!r} is not a plain relative path")
        if name in seen:
            raise HostileImage(f"member {name!r} appears twice")
        seen.add(name)
        if member.isdir():
            continue
        if not member.isreg():
            raise HostileImage(f"member {name!r} is not a regular file or folder")
        total += member.size
        if total > max_bytes:
            raise HostileImage(f"more than {max_bytes} bytes of files")
    for name in seen:
        parent = posixpath.dirname(name)
        if parent and parent not in seen:
            # tarfile would make the folder itself; refuse instead of guessing its mode.
            raise HostileImage(f"member {name!r} has no folder entry for {parent!r}")
    if MANIFEST_NAME not in seen:
        raise HostileImage(f"no {MANIFEST_NAME} at the top of the image")


def _plain_name(name: str) -> bool:
    return (
        bool(name)
        and len(name) <= 1024
        and not name.startswith("/")
        and "\\" not in name
        and "\x00" not in name
        and "\n" not in name
        and posixpath.normpath(name) == name
        and ".." not in name.split("/")
        and name != "."
    )


def unpack(image: Path, destination: Path, max_bytes: int = MAX_BYTES) -> None:
    """Unpack `image` into the new folder `destination` (which must not exist), every file and
    folder synced. Raises HostileImage (a bad image) or OSError (e.g. the disk is full); on
    either, what was written is left for the caller to remove."""
    try:
        with tarfile.open(image, "r:") as tar:
            members = _read_members(tar)
            check_members(members, max_bytes)
            destination.mkdir(mode=0o755)
            for member in members:
                tar.extract(member, destination, set_attrs=False, filter="data")
                path = destination / member.name
                os.chmod(path, 0o755 if member.isdir() or member.mode & 0o100 else 0o644)
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
