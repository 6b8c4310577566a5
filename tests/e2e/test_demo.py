"""`make demo`'s program, run as a reader of the README would: a whole wing comes up over mutual
TLS, the tour locks and unlocks with the staff CLI, and tablet T-0001's shell draws each state."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.gui


def test_the_demo_tour_locks_and_unlocks_a_tablet_and_its_shell_shows_it(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("DISPLAY", None)  # the demo starts its own Xvfb
    result = subprocess.run(
        [sys.executable, "-m", "cellbridge", "demo", "--tablets", "3", "--dir",
         str(tmp_path / "demo"), "--tour"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "locked: all 1 tablet(s) confirmed" in result.stdout
    assert "unlocked: all 3 tablet(s) confirmed" in result.stdout
    assert "audit chain intact" in result.stdout
    shots = sorted(p.name for p in (tmp_path / "demo" / "screenshots").glob("*.png"))
    assert any(name.endswith("-lock.png") for name in shots), shots
    assert any(name.endswith("-home.png") for name in shots), shots
