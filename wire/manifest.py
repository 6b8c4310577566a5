"""Signed app manifests: what one build of an app is, file by file.

A manifest names an app, its version, its entry point and the sha256 of every file it ships. It is
a signed body sealed by the **wing gateway's key** (`wire.envelope.seal`, audience `wing:<id>`), the
same key and trust set as the wing policy: admitting an app to a wing's allow-list is that wing's
decision, and the tablet then needs no second trust anchor. (How the app's files reach the tablet
intact, the estate's release signing, is the update path's job; this manifest says that this exact
build may *run* here.) The policy pins each app's version (`wire.policy.AppEntry.version`), so an
older, validly signed build is refused too.

On the tablet the sealed manifest sits beside the app's files as `MANIFEST_NAME`; any other file in
the app's folder that the manifest does not list is refused (an unlisted binary).
"""

from __future__ import annotations

import posixpath
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from wire.documents import AppId, Digest, SignedBody

MANIFEST_NAME = "manifest.json"
MAX_FILES = 4096


def _relative_path(value: str) -> str:
    if (
        not value
        or value.startswith("/")
        or "\\" in value
        or "\x00" in value
        or posixpath.normpath(value) != value
        or value.split("/")[0] == ".."
        or value == MANIFEST_NAME
    ):
        raise ValueError(f"{value!r} is not a plain relative path inside the app")
    return value


RelativePath = Annotated[
    str, StringConstraints(max_length=255), AfterValidator(_relative_path)
]
AppVersion = Annotated[str, StringConstraints(pattern=r"^[0-9A-Za-z][0-9A-Za-z.+_-]{0,31}$")]


class AppManifest(SignedBody):
    """One build of one app (`type="app"`); `version` is the manifest's own, strictly increasing."""

    type: Literal["app"] = "app"
    app: AppId
    app_version: AppVersion
    entry: RelativePath
    """The executable the shell runs, relative to the app's folder."""
    args: Annotated[tuple[Annotated[str, StringConstraints(max_length=200)], ...], Field(
        max_length=16
    )] = ()
    files: Annotated[dict[RelativePath, Digest], Field(min_length=1, max_length=MAX_FILES)]

    MAX_BYTES: ClassVar[int] = 512 * 1024

    @model_validator(mode="after")
    def _entry_is_listed(self) -> AppManifest:
        if self.entry not in self.files:
            raise ValueError(f"entry {self.entry!r} is not among the listed files")
        return self
