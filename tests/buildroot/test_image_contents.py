"""What the image leaves out (python-cellbridge.mk removes host-only parts after install) is never
needed by what the tablet runs: the agent and the shell still import without it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MK = REPO / "buildroot/package/python-cellbridge/python-cellbridge.mk"

BLOCKER = """
import importlib.abc, sys
REMOVED = {removed!r}
class Removed(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == r or name.startswith(r + ".") for r in REMOVED):
            raise ModuleNotFoundError(f"{{name}} is not on the tablet image", name=name)
        return None
sys.meta_path.insert(0, Removed())
import {modules}
"""
TABLET_ENTRY_POINTS = ["agent.cli", "agent.service", "device.cli"]


def removed_modules() -> list[str]:
    text = MK.read_text()
    paths = re.findall(r"rm -rf \$\(PYTHON_CELLBRIDGE_SITE_PACKAGES\)/(\S+)", text)
    return [p.removesuffix(".py").replace("/", ".") for p in paths]


def test_the_image_removes_the_gateway_and_every_estate_tool():
    removed = removed_modules()
    assert "gateway" in removed
    assert "provisioning" in removed


def test_the_agent_and_the_shell_import_without_what_the_image_removes():
    result = subprocess.run(
        [sys.executable, "-c",
         BLOCKER.format(removed=removed_modules(), modules=", ".join(TABLET_ENTRY_POINTS))],
        cwd=REPO, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
