"""Kivy settings for the kiosk, applied before Kivy opens its window.

Environment first (Kivy reads it at import), then `kivy.config.Config`. Nothing here comes from a
user-editable file: KIVY_USE_DEFAULTCONFIG ignores any config.ini a prisoner could reach.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

WINDOW_SIZE = (1280, 800)


def prepare_environment(kivy_home: Path, *, console_log: bool = True) -> None:
    """Must run before the first `import kivy` in the process."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    os.environ.setdefault("KIVY_USE_DEFAULTCONFIG", "1")
    os.environ.setdefault("KIVY_NO_FILELOG", "1")
    os.environ.setdefault("KIVY_HOME", str(kivy_home))
    # SDL would turn SIGTERM into a window-close request, which the kiosk refuses: systemd could
    # then never stop the shell. Signals stay Python's (device/cli.py stops the app on SIGTERM).
    os.environ.setdefault("SDL_NO_SIGNAL_HANDLERS", "1")
    # The kiosk has no use for the X selection: SDL's clipboard, never an `xsel`/`xclip` child
    # that writes its complaints straight to the terminal.
    os.environ.setdefault("KIVY_CLIPBOARD", "sdl2,dummy")
    if not console_log:
        os.environ.setdefault("KIVY_NO_CONSOLELOG", "1")
    Path(os.environ["KIVY_HOME"]).mkdir(parents=True, exist_ok=True)


class QuietClipboard(logging.Filter):
    """Drops Kivy's reports about clipboard and cut-buffer providers (xsel, xclip missing): noise
    to whoever reads the shell's log, about a feature the kiosk does not use."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(("Clipboard:", "Cutbuffer:", "CutBuffer:"))


def configure(*, fullscreen: bool, size: tuple[int, int] = WINDOW_SIZE) -> None:
    """Kiosk settings; call after `prepare_environment` and before importing kivy.core.window."""
    import kivy
    from kivy.config import Config
    from kivy.logger import Logger

    Logger.addFilter(QuietClipboard())
    # KIVY_CLIPBOARD does not reach the X "cut buffer", which Kivy finds by running `xclip` and
    # `xsel` (their complaints go straight to the terminal). No provider allowed: none is run,
    # and a text field simply has no middle-click paste.
    kivy.kivy_options["cutbuffer"] = ()

    Config.set("kivy", "exit_on_escape", "0")
    Config.set("kivy", "keyboard_mode", "system")
    Config.set("kivy", "pause_on_minimize", "0")
    # Right-click would otherwise plant simulated extra fingers (a multi-touch way in).
    Config.set("input", "mouse", "mouse,disable_multitouch")
    # No vsync: with it, a buffer swap waits for the compositor's frame callback, and a kiosk
    # compositor sends none to a surface an app covers, so the UI loop (and with it the lock
    # screen and the watchdog's pings) froze the moment an app opened. Kivy's maxfps paces it.
    Config.set("graphics", "vsync", "0")
    Config.set("graphics", "multisamples", "0")
    Config.set("graphics", "resizable", "0")
    Config.set("graphics", "width", str(size[0]))
    Config.set("graphics", "height", str(size[1]))
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "borderless", "1" if fullscreen else "0")
