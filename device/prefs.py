"""The prisoner's display preferences (Help and settings), kept per tablet in the data dir."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from device.i18n import LANGUAGES
from device.storage import read_json, write_json

TEXT_SCALES = (1.0, 1.25, 1.5)


class Prefs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    text_scale: float = 1.0
    theme: Literal["standard", "high_contrast"] = "standard"
    language: str = "en"


def load(path: Path) -> Prefs:
    """Saved preferences; defaults for anything missing or invalid (never an error screen)."""
    raw = read_json(path)
    try:
        prefs = Prefs.model_validate(raw or {})
    except ValidationError:
        return Prefs()
    if prefs.text_scale not in TEXT_SCALES or prefs.language not in LANGUAGES:
        return Prefs()
    return prefs


def save(path: Path, prefs: Prefs) -> None:
    write_json(path, prefs.model_dump())
