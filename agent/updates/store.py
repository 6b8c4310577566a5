"""The update engine's persisted record: one JSON file, replaced atomically and fsynced.

A power cut leaves either the previous record or the new one, never a torn file; the engine
writes the record *before* it acts on a new state, so every state it can wake up in has been
entered deliberately.

The record carries its schema version. An older record is migrated step by step on load (a
record without a version is version 1, as every agent before the field wrote); a record from a
newer agent (a newer slot, then a rollback into this one) is refused, never guessed at.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.updates.states import State
from common.files import write_atomic


class Pending(BaseModel):
    """The newest update target offered to this tablet (by its desired state)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: str
    version: str
    offered: int = 0
    """Counter of offers, so a re-offer of a failed target is tried again deliberately."""


SCHEMA_VERSION = 1
"""The version of `UpdateRecord` this agent writes."""

Migration = Callable[[dict[str, Any]], dict[str, Any]]

MIGRATIONS: dict[int, Migration] = {}
"""version n -> the step that turns a version n record into a version n+1 one."""


def upgrade(data: dict[str, Any], migrations: Mapping[int, Migration] = MIGRATIONS,
            current: int = SCHEMA_VERSION) -> dict[str, Any]:
    """A persisted record's fields migrated to `current`; raises NewerRecord for a record from
    a newer agent, StoreError for a version that is no version."""
    version = data.get("schema_version", 1)
    if type(version) is not int or version < 1:
        raise StoreError(f"update record has no usable schema version: {version!r}")
    if version > current:
        raise NewerRecord(f"update record is version {version}, newer than this agent's "
                          f"{current}: refused")
    while version < current:
        step = migrations.get(version)
        if step is None:
            raise StoreError(f"no migration from update record version {version}")
        data = step(data)
        version += 1
    return {**data, "schema_version": current}


class UpdateRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    schema_version: int = SCHEMA_VERSION
    state: State = State.IDLE
    target: str | None = None
    version: str | None = None
    length: int | None = None
    hashes: dict[str, str] = Field(default_factory=dict)
    from_slot: str | None = None
    to_slot: str | None = None
    from_version: str | None = None
    boot_id: str | None = None
    """Boot id when the engine asked for the reboot (same id on resume: it has not happened)."""
    activated: bool = False
    """The bootloader was told to try the new slot (so booting the old one means it failed)."""
    rollback: bool = False
    """A failed health check asked the bootloader to go back: expect the old slot."""
    error: str = ""
    resumes: int = 0
    """Loop guard: how often this update was resumed from a persisted state."""
    pending: Pending | None = None
    handled: Pending | None = None
    """The last offer the engine acted on (started, or refused)."""
    highest_version: str | None = None
    """Highest OS version ever committed here: the floor against bundle rollback."""
    trusted_floor: int = 0
    """Highest trusted time seen (unix seconds): a clock earlier than this is refused."""
    progress: int = 0


class UpdateStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def load(self) -> UpdateRecord:
        """The persisted record; a missing file is a fresh tablet (idle).

        A record that cannot be trusted to say what is half-done raises StoreError (NewerRecord
        for one from a newer agent): the engine never acts on a guess (`recovery`).
        """
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return UpdateRecord()
        except OSError as exc:
            raise StoreError(f"update record {self.path} unreadable: {exc}") from exc
        try:
            fields = json.loads(data)
            if not isinstance(fields, dict):
                raise ValueError("not a JSON object")
            return UpdateRecord.model_validate(upgrade(fields))
        except (ValueError, ValidationError) as exc:
            raise StoreError(f"update record {self.path} unreadable: {exc}") from exc

    def save(self, record: UpdateRecord) -> None:
        write_atomic(self.path, record.model_dump_json(indent=1).encode())

    def keep_unreadable(self) -> Path | None:
        """Copy an unreadable record aside (replacing one kept before), for the audit; None if
        even its bytes cannot be read. A copy, not a move: until the record that replaces it
        is saved, a power cut finds the unreadable one again, never none (a fresh tablet)."""
        try:
            data = self.path.read_bytes()
        except OSError:
            return None
        kept = self.path.with_name(self.path.name + ".unreadable")
        write_atomic(kept, data)
        return kept


class StoreError(Exception):
    """The persisted update record cannot be read."""


class NewerRecord(StoreError):
    """The persisted update record was written by a newer agent."""
