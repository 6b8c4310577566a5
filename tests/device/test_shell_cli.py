"""`cellbridge shell` as the image starts it: a separate process on a virtual screen, its only
input the real agent's socket, a PNG saved after every state change."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cellbridge.display import Xvfb
from tests.device.test_shell_agent_lock import agent, publish_lock  # noqa: F401  (fixture)
from tests.support.agents import REPO_ROOT

pytestmark = pytest.mark.gui


@pytest.fixture
def screen() -> Iterator[Xvfb]:
    xvfb = Xvfb().start()
    yield xvfb
    xvfb.stop()


def run_shell(xvfb: Xvfb, args: list[str]) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DISPLAY": xvfb.display,
        "KIVY_NO_CONSOLELOG": "1",
        "PYTHONPATH": str(REPO_ROOT),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "cellbridge", "shell", *args],
        env=env,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def wait_for_png(directory: Path, name: str, timeout: float = 30.0) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(directory.glob(f"*-{name}.png"))
        if found and found[-1].stat().st_size > 1000:
            return found[-1]
        time.sleep(0.05)
    raise AssertionError(f"no {name} screenshot in {sorted(p.name for p in directory.glob('*'))}")


def test_the_shell_command_shows_a_staff_lock_and_saves_a_screenshot_of_each_state(
    agent,  # noqa: F811
    screen: Xvfb,
    tmp_path: Path,
) -> None:
    process, signer, probe = agent
    shots = tmp_path / "shots"
    shell = run_shell(
        screen,
        [
            "--socket",
            str(process.socket_path),
            "--windowed",
            "--screenshots",
            str(shots),
            "--data-dir",
            str(tmp_path / "data"),
        ],
    )
    try:
        wait_for_png(shots, "*")  # the first state the agent gave
        publish_lock(signer, probe, 2, True, "Cell search")
        wait_for_png(shots, "lock")
        before = set(shots.glob("*.png"))
        publish_lock(signer, probe, 3, False, "done")
        deadline = time.monotonic() + 30
        while set(shots.glob("*.png")) == before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert set(shots.glob("*.png")) != before, "no screenshot after the unlock"
        assert shell.poll() is None
    finally:
        shell.terminate()  # as systemd stops it
        output = shell.communicate(timeout=15)[0].decode(errors="replace")
    assert shell.returncode == 0, output[-2000:]  # SIGTERM: a clean stop, not a crash


def test_a_bad_data_directory_is_a_one_line_error(screen: Xvfb, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    shell = run_shell(
        screen, ["--socket", str(tmp_path / "a.sock"), "--data-dir", str(blocker / "sub")]
    )
    output = shell.communicate(timeout=30)[0].decode()
    assert shell.returncode != 0
    assert "cannot use data directory" in output
    assert "Traceback" not in output
