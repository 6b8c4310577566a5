"""The `appfs` image of an app release: what the RAUC bundle of `cellbridge release app` carries,
and what a tablet accepts from one.

An appfs image is a plain (uncompressed: the bundle's squashfs compresses it) POSIX tar of one
app folder as the tablet runs it: the app's files and its sealed manifest
(`wire.manifest.MANIFEST_NAME`) at the top, regular files and folders only, owned by root,
mode 0755 (folders, executables) or 0644. Here are its names, its caps and the check of its
member list (`check_members`); pure. Packing and unpacking files is `common.appfs`.
"""

from __future__ import annotations

import posixpath
import tarfile

from wire.manifest import MANIFEST_NAME, MAX_FILES

SLOT_CLASS = "appfs"
"""The bundle's image section: `[image.appfs]`."""
IMAGE_NAME = "appfs.tar"
MAX_MEMBERS = MAX_FILES + 1024
"""Files (the manifest's cap plus the manifest) and the folders holding them."""
MAX_BYTES = 2 * 1024**3


class HostileImage(Exception):
    """The image holds something that cannot be part of an app: nothing of it is kept."""


def member_mode(is_dir: bool, mode: int) -> int:
    """The one mode an image gives a member: 0755 for folders and executables, else 0644."""
    return 0o755 if is_dir or mode & 0o100 else 0o644


def check_members(members: list[tarfile.TarInfo], max_bytes: int = MAX_BYTES) -> None:
    """Refuse an image whose member list could write outside its folder or anything but plain
    files and folders. Pure; raises HostileImage naming the first problem."""
    if len(members) > MAX_MEMBERS:
        raise HostileImage(f"more than {MAX_MEMBERS} members")
    seen: set[str] = set()
    total = 0
    for member in members:
        name = member.name
        if not is_plain_name(name):
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


def is_plain_name(name: str) -> bool:
    """A member name that can only mean a path inside the app folder: relative, normalised, no
    `..`, no backslash, NUL or newline."""
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
