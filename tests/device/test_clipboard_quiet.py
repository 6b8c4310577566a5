"""The shell never runs `xclip` or `xsel`: Kivy would otherwise run them to find an X cut buffer
for text fields, and their complaints land on the terminal of whoever started the shell (the
demo's user). A stand-in `xclip`/`xsel` on PATH records any run; the shell's Kivy setup runs in a
child process of its own, as `cellbridge shell` does, on a real X server (Xvfb)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cellbridge.display import Xvfb

REPO_ROOT = Path(__file__).resolve().parents[2]

CHILD = """
from pathlib import Path
import sys
from device.ui.config import configure, prepare_environment
prepare_environment(Path(sys.argv[1]))
configure(fullscreen=False)
from kivy.core.window import Window
from kivy.core.clipboard import Clipboard, CutBuffer
from kivy.uix.textinput import TextInput
field = TextInput(text="hello")
field.select_all()
field.copy()
print("providers", type(Clipboard).__name__, CutBuffer, flush=True)
"""


@pytest.mark.gui
def test_the_shell_never_runs_xclip_or_xsel_and_prints_nothing_of_them(tmp_path: Path) -> None:
    probes = tmp_path / "bin"
    probes.mkdir()
    ran = tmp_path / "ran"
    for tool in ("xclip", "xsel"):
        (probes / tool).write_text(f'#!/bin/sh\necho "{tool} $*" >> {ran}\n'
                                   f'echo "{tool}: cannot open display" >&2\nexit 1\n')
        (probes / tool).chmod(0o755)
    display = Xvfb().start()
    try:
        env = {**display.environ(), "PYTHONPATH": str(REPO_ROOT),
               "PATH": f"{probes}:{os.environ['PATH']}"}
        env = {k: v for k, v in env.items() if not k.startswith("KIVY_")}
        child = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "kivy")], env=env,
                               capture_output=True, text=True, timeout=120, check=False)
    finally:
        display.stop()

    assert child.returncode == 0, child.stderr[-3000:]
    assert "providers ClipboardSDL2 None" in child.stdout
    assert not ran.exists(), ran.read_text()
    output = (child.stdout + child.stderr).lower()
    assert "xclip" not in output and "xsel" not in output
