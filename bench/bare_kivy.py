"""The floor for the shell's cold start: a bare Kivy app (one label), started exactly as the
shell is (same interpreter, same Kivy settings, same window), recording its first frame."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    from device.ui.config import configure, prepare_environment

    prepare_environment(Path(tempfile.mkdtemp(prefix="bare-kivy-")) / "kivy")
    configure(fullscreen=False)
    from kivy.app import App
    from kivy.core.window import Window
    from kivy.uix.label import Label

    class Bare(App):
        def build(self) -> Label:
            Window.bind(on_flip=self._flip)
            return Label(text="bare")

        def _flip(self, *_args: object) -> None:
            Window.unbind(on_flip=self._flip)
            target = os.environ.get("CELLBRIDGE_FIRST_FRAME_FILE")
            if target:
                Path(target).write_text(f"{time.time():.6f}\n")

    Bare().run()


if __name__ == "__main__":
    main()
