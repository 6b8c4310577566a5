"""The shell's languages: gettext catalogues under device/locale (English is the msgids)."""

from __future__ import annotations

import gettext
from pathlib import Path

DOMAIN = "cellbridge"
LOCALE_DIR = Path(__file__).parent / "locale"

LANGUAGES: dict[str, str] = {"en": "English", "pl": "Polski"}
"""Language code -> its own name (a prisoner looks for their language written in it)."""


def catalogue(language: str) -> gettext.NullTranslations:
    """The catalogue for `language`; English (the msgids themselves) for anything unknown."""
    if language not in LANGUAGES or language == "en":
        return gettext.NullTranslations()
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)


def N_(text: str) -> str:
    """Marks a msgid for extraction where it is defined; translated where it is shown."""
    return text
