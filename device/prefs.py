"""The prisoner's display preferences (Help and settings), kept per tablet in the data dir.

Plain code rather than a pydantic model: the preferences are read before the first frame, and
three closed choices do not justify importing a validation library on the way to it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from device.i18n import LANGUAGES
from device.storage import read_json, write_json

TEXT_SCALES = (1.0, 1.25, 1.5)
THEMES = ("standard", "high_contrast")


@dataclass(frozen=True)
class Prefs:
    text_scale: float = 1.0
    theme: str = "standard"
    language: str = "en"

    def __post_init__(self) -> None:
        if self.text_scale not in TEXT_SCALES:
            raise ValueError(f"text_scale must be one of {TEXT_SCALES}")
        if self.theme not in THEMES:
            raise ValueError(f"theme must be one of {THEMES}")
        if self.language not in LANGUAGES:
            raise ValueError(f"language must be one of {sorted(LANGUAGES)}")


def load(path: Path) -> Prefs:
    """Saved preferences; defaults for a missing or invalid file (never an error screen)."""
    raw = read_json(path)
    if not isinstance(raw, dict):
        return Prefs()
    try:
        return Prefs(
            text_scale=float(raw.get("text_scale", 1.0)),
            theme=str(raw.get("theme", "standard")),
            language=str(raw.get("language", "en")),
        )
    except (TypeError, ValueError):
        return Prefs()


def save(path: Path, prefs: Prefs) -> None:
    write_json(path, asdict(prefs))
