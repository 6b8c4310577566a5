"""The gallery of the shell: every screen in every language it ships, in the standard and the
high-contrast theme and at the largest text size — each one checked (contrast, touch targets,
words beside icons, nothing clipped) and saved.

`make screenshots` writes them to docs/screenshots/<language>/<variant>/<screen>.png, which the
README links. Under plain `make test` only the largest text is rendered, in every language (where
words are most likely not to fit; test_accessibility.py covers the themes), to a temporary
directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from device import prefs
from device.i18n import LANGUAGES
from tests.device.accessibility import (
    clipped_labels,
    contrast_failures,
    target_failures,
    unlabelled_controls,
)
from tests.device.conftest import SCREENSHOT_DIR_ENV
from tests.device.test_accessibility import SCREENS

pytestmark = pytest.mark.gui

VARIANTS: dict[str, tuple[str, float]] = {
    "standard": ("standard", 1.0),
    "high_contrast": ("high_contrast", 1.0),
    "largest_text": ("standard", max(prefs.TEXT_SCALES)),
}
"""variant -> (theme, text scale)"""


def variants() -> list[str]:
    return sorted(VARIANTS) if os.environ.get(SCREENSHOT_DIR_ENV) else ["largest_text"]


def gallery(tmp_path: Path) -> Path:
    base = os.environ.get(SCREENSHOT_DIR_ENV)
    return Path(base) if base else tmp_path / "gallery"


@pytest.mark.parametrize("language", sorted(LANGUAGES))
@pytest.mark.parametrize("variant", variants())
@pytest.mark.parametrize("screen", sorted(SCREENS))
def test_every_screen_in_every_language_theme_and_text_size(start_shell, tmp_path, language,
                                                            variant, screen):
    theme, scale = VARIANTS[variant]
    data = tmp_path / "shell-data"
    prefs.save(data / "prefs.json", prefs.Prefs(theme=theme, text_scale=scale,  # type: ignore[arg-type]
                                                language=language))
    shell = start_shell(connect=False, data_dir=data)
    assert (shell.app.language, shell.app.palette.name, shell.app.text_scale) == (
        language, theme, scale)
    SCREENS[screen](shell)
    shell.step(6)
    root = shell.app.root
    assert contrast_failures(root) == []
    assert target_failures(root) == []
    assert unlabelled_controls(root) == []
    assert clipped_labels(root) == []
    shell.step(2)
    path = shell.app.save_screenshot(gallery(tmp_path) / language / variant / f"{screen}.png")
    assert path.stat().st_size > 1000
