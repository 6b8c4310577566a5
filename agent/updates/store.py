"""The update engine's persisted record: one JSON file, replaced atomically and fsynced.

A power cut leaves either the previous record or the new one, never a torn file; the engine
writes the record *before* it acts on a new state, so every state it can wake up in has been
entered deliberately.
"""

from __future__ import annotations

import json
from pathlib import Path

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


class UpdateRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

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

        An unreadable record cannot be trusted to say what is half-done: it raises, and the
        engine treats it like an interrupted update (it never installs on a guess).
        """
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return UpdateRecord()
        try:
            return UpdateRecord.model_validate(json.loads(data))
        except (ValueError, ValidationError) as exc:
            raise StoreError(f"update record {self.path} unreadable: {exc}") from exc

    def save(self, record: UpdateRecord) -> None:
        write_atomic(self.path, record.model_dump_json(indent=1).encode())


class StoreError(Exception):
    """The persisted update record cannot be read."""
