"""The shell's tests run Kivy on the project's virtual screen (cellbridge.display.Xvfb: a free
display via -displayfd, no TCP). Kivy reads its settings from the environment at import, so
`kivy_environ` gives the variables that keep a test's Kivy away from the user's ~/.kivy, their
config.ini and the console."""

from __future__ import annotations

from pathlib import Path

from cellbridge.display import Xvfb

__all__ = ["Xvfb", "kivy_environ"]


def kivy_environ(kivy_home: Path) -> dict[str, str]:
    kivy_home.mkdir(parents=True, exist_ok=True)
    return {
        "KIVY_NO_ARGS": "1",
        "KIVY_HOME": str(kivy_home),
        "KIVY_USE_DEFAULTCONFIG": "1",
        "KIVY_NO_FILELOG": "1",
        "KIVY_NO_CONSOLELOG": "1",
    }
