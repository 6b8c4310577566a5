"""The boot test's app, released the way IT releases one: Paint, a small Kivy drawing app (a
Wayland client like the shell), its manifest sealed by the wing gateway, signed into the estate's
release repository for the image's RAUC compatible and published to the gateway's repository.
The tablet's agent installs it; the shell shows its tile; a tap launches it and the kiosk
compositor shows it instead of the shell (the test reads QEMU's screendump).
"""

from __future__ import annotations

import random
from pathlib import Path

from tuf.api.metadata import Targets

from cellbridge.demo_apps import DATA_BYTES, ENTRY, DemoApp, seal
from provisioning.release import EstateRepository
from wire.tuf_layout import app_target_path

APP = DemoApp("paint", "Paint", "1.0.0")  # as tests/image/policy.toml pins it
CANVAS = (0.55, 0.10, 0.55)
"""Paint's canvas colour: what the screendump shows while Paint is on the screen."""

_SCRIPT = f'''#!/usr/bin/python3
"""Paint: the boot test's app. A canvas to draw on with a finger, in its own Kivy window."""
import os

home = os.environ.get("HOME", "/tmp")
os.environ.update(KIVY_HOME=os.path.join(home, ".paint"), KIVY_NO_ARGS="1",
                  KIVY_NO_FILELOG="1", KIVY_WINDOW="sdl2", KIVY_GL_BACKEND="sdl2",
                  SDL_VIDEODRIVER="wayland")

from kivy.app import App  # noqa: E402
from kivy.core.window import Window  # noqa: E402
from kivy.graphics import Color, Line  # noqa: E402
from kivy.uix.widget import Widget  # noqa: E402


class Canvas(Widget):
    def on_touch_down(self, touch):
        with self.canvas:
            Color(1, 1, 1)
            touch.ud["line"] = Line(points=(touch.x, touch.y), width=4)
        return True

    def on_touch_move(self, touch):
        if "line" in touch.ud:
            touch.ud["line"].points += [touch.x, touch.y]
        return True


class Paint(App):
    title = "Paint"

    def build(self):
        Window.clearcolor = ({CANVAS[0]}, {CANVAS[1]}, {CANVAS[2]}, 1)
        print("paint: drawing", flush=True)
        return Canvas()


Paint().run()
'''


def make_folder(folder: Path) -> Path:
    (folder / "bin").mkdir(parents=True, exist_ok=True)
    entry = folder / ENTRY
    entry.write_text(_SCRIPT)
    entry.chmod(0o755)
    # Brushes, say: RAUC refuses a bundle whose (compressed) content is under 4 KiB.
    (folder / "data").mkdir(exist_ok=True)
    (folder / "data" / "brushes.bin").write_bytes(random.Random(APP.app).randbytes(DATA_BYTES))
    return folder


def release(repository: EstateRepository, gateway_api: Path, compatible: str) -> str:
    """Seal (at the running gateway), release and return Paint's TUF target path; once per
    release repository (a second run of the same disk finds it released)."""
    target = app_target_path(APP.app, APP.version)
    if target in repository.load(Targets.type, Targets).signed.targets:
        return target
    folder = make_folder(repository.dir / "src" / f"{APP.app}-{APP.version}")
    seal(folder, APP, gateway_api)
    repository.release_app(APP.app, folder, APP.version, compatible)
    return target
