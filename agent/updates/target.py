"""What a TUF target says about a release: the contract between `cellbridge release` and the agent.

The release tool writes it into the target's `custom` field; TUF signs it with the targets role,
so the agent can trust the kind, version and compatible string before it downloads a byte.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

VersionText = Annotated[str, StringConstraints(pattern=r"^\d{1,9}(\.\d{1,9}){0,3}$")]
Compatible = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
AppId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_.-]{0,63}$")]


class ReleaseMeta(BaseModel):
    """The `custom` field of a release target."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    kind: Literal["os", "app"]
    version: VersionText
    compatible: Compatible
    app: AppId | None = None


def version_key(version: str) -> tuple[int, ...]:
    """Numeric ordering of dotted versions ("1.10" > "1.9"); trailing zeros do not matter."""
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def release_meta(custom: Any) -> ReleaseMeta:
    """Parse a target's custom field; raises ValueError naming what is wrong."""
    try:
        return ReleaseMeta.model_validate(custom)
    except ValidationError as exc:
        raise ValueError(f"target custom field: {str(exc).splitlines()[0]}") from exc


def os_target_path(version: str) -> str:
    return f"os/cellbridge-os-{version}.raucb"


def app_target_path(app: str, version: str) -> str:
    return f"app/{app}-{version}.raucb"
