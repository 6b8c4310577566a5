"""The agent's names for `appfs` images: the format is `wire.appfs`, unpacking `common.appfs`
(shared with `cellbridge release app`, which packs them)."""

from __future__ import annotations

from common.appfs import pack, unpack
from wire.appfs import IMAGE_NAME, MAX_BYTES, MAX_MEMBERS, SLOT_CLASS, HostileImage, check_members

__all__ = [
    "IMAGE_NAME", "MAX_BYTES", "MAX_MEMBERS", "SLOT_CLASS", "HostileImage", "check_members",
    "pack", "unpack",
]
