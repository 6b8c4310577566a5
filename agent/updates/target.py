"""What a TUF target says about a release, for the agent's update code: the contract itself
(target naming, the `custom` field) is `wire.tuf_layout`, shared with `cellbridge release`."""

from __future__ import annotations

from wire.tuf_layout import (
    ReleaseMeta,
    app_target_path,
    os_target_path,
    release_meta,
    version_key,
)

__all__ = ["ReleaseMeta", "app_target_path", "os_target_path", "release_meta", "version_key"]
