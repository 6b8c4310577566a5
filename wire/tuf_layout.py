"""The estate's TUF repository as a contract between `cellbridge release` (which signs it), the
wing gateway (which keeps and serves a copy) and the tablet's agent (which fetches from it):
where its files are, what a release target is called, and what its `custom` field says.

The release tool writes `ReleaseMeta` into each target's `custom` field; TUF signs it with the
targets role, so the agent can trust the kind, version and compatible string before it downloads
a byte. Pure: paths are computed, never touched.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

METADATA = "metadata"
TARGETS = "targets"
ONLINE_KEYS = "keys"
"""In a published copy (the gateway's): the keys of the online roles, which the gateway signs
with unattended."""
ONLINE_ROLES = ("snapshot", "timestamp")

VersionText = Annotated[str, StringConstraints(pattern=r"^\d{1,9}(\.\d{1,9}){0,3}$")]
Compatible = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
AppId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")]


class TufLayout:
    """The files of a TUF repository below `dir`: IT's release directory, or the copy
    `release publish` puts on the gateway and the gateway serves at `metadata_url` and
    `targets_url`."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)

    @property
    def metadata_dir(self) -> Path:
        return self.dir / METADATA

    @property
    def targets_dir(self) -> Path:
        return self.dir / TARGETS

    def role_file(self, role: str) -> Path:
        """The current metadata of `role` (`root`, `targets`, `snapshot`, `timestamp`)."""
        return self.metadata_dir / f"{role}.json"

    def root_file(self, version: int) -> Path:
        """Root metadata `version`, kept so a client can walk the chain of roots from the one it
        trusts (`1.root.json` is what a tablet image carries)."""
        return self.metadata_dir / f"{version}.root.json"

    def target_file(self, target_path: str) -> Path:
        return self.targets_dir / target_path

    def online_key(self, role: str) -> Path:
        """In a published copy: the private key of online role `role` (PEM)."""
        return self.dir / ONLINE_KEYS / f"{role}.pem"

    @staticmethod
    def metadata_url(base_url: str) -> str:
        return f"{base_url.rstrip('/')}/{METADATA}/"

    @staticmethod
    def targets_url(base_url: str) -> str:
        return f"{base_url.rstrip('/')}/{TARGETS}/"

    @staticmethod
    def target_url(base_url: str, target_path: str) -> str:
        return f"{base_url.rstrip('/')}/{TARGETS}/{target_path}"


def root_version(name: str) -> int | None:
    """The version in a versioned root's file name (`7.root.json` → 7), else None."""
    head, dot, tail = name.partition(".")
    return (int(head) if dot and tail == "root.json" and head.isascii() and head.isdigit()
            else None)


def os_target_path(version: str) -> str:
    return f"os/cellbridge-os-{version}.raucb"


def app_target_path(app: str, version: str) -> str:
    return f"app/{app}-{version}.raucb"


class ReleaseMeta(BaseModel):
    """The `custom` field of a release target."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    kind: Literal["os", "app"]
    version: VersionText
    compatible: Compatible
    app: AppId | None = None


def release_meta(custom: Any) -> ReleaseMeta:
    """Parse a target's custom field; raises ValueError naming what is wrong."""
    try:
        return ReleaseMeta.model_validate(custom)
    except ValidationError as exc:
        raise ValueError(f"target custom field: {str(exc).splitlines()[0]}") from exc


def version_key(version: str) -> tuple[int, ...]:
    """Numeric ordering of dotted versions ("1.10" > "1.9"); trailing zeros do not matter."""
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)
