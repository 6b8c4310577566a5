"""Starting allow-listed apps: only on the real agent's yes (signed manifest, file hashes, policy),
as a separate process with a clean environment, closed when curfew takes the permission away."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent.apps import build_manifest
from tests.device.test_shell_with_agent import EVENING, TEN_TO_CURFEW, WING, World
from tests.policy.samples import APPS, EXPIRES, ISSUED, WING_KEY
from wire.envelope import seal
from wire.manifest import MANIFEST_NAME

pytestmark = pytest.mark.gui


def install_recording_app(apps_dir: Path, app: str, *, lingers: bool) -> None:
    """An app that writes down the environment it was given, then stays or exits."""
    folder = apps_dir / app
    (folder / "bin").mkdir(parents=True, exist_ok=True)
    entry = folder / "bin" / "run"
    tail = "exec sleep 600" if lingers else "exit 0"
    entry.write_text(f'#!/bin/sh\nenv > "$HOME/env.txt"\necho $$ > "$HOME/pid"\n{tail}\n')
    entry.chmod(0o755)
    manifest = build_manifest(
        folder,
        app=app,
        app_version=APPS[app].version,
        entry="bin/run",
        audience=f"wing:{WING}",
        version=1,
        issued=ISSUED,
        expires=EXPIRES,
    )
    (folder / MANIFEST_NAME).write_bytes(seal(manifest, WING_KEY))


def tile(shell, name):
    return next(
        t for t in shell.app.root.ids.sm.current_screen.ids.tiles.children if t.text == name
    )


def recorded_env(home: Path) -> dict[str, str]:
    lines = (home / "env.txt").read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def test_an_allowed_app_starts_on_the_agents_yes_with_a_clean_environment(
    world: World, start_shell: Callable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LD_PRELOAD", "/tmp/evil.so")  # planted in the shell's environment
    install_recording_app(world.agent.state_dir / "apps", "education", lingers=False)
    world.start(EVENING, apps=("listener",))
    data = tmp_path / "shell-data"
    shell = start_shell(world.agent.socket_path, data_dir=data)
    assert shell.wait_until(lambda: shell.app.agent_reachable and shell.screen() == "home")

    shell.tap(tile(shell, "Education"))
    home = data / "apps" / "education"
    assert shell.wait_until(lambda: (home / "env.txt").exists() and shell.app.running_app is None)
    env = recorded_env(home)
    assert "LD_PRELOAD" not in env
    assert env["PATH"] == "/usr/local/bin:/usr/bin:/bin"
    assert env["HOME"] == str(home)
    assert env["DISPLAY"] == os.environ["DISPLAY"]
    assert shell.screen() == "home"  # the shell is back in front


# Failed twice of three parallel runs while the machine's load was 15-33 (the refusal's 6 s
# banner not seen; the cause is not found yet), never alone: it runs in the serial pass.
@pytest.mark.serial
def test_an_app_the_agent_refuses_does_not_start(world: World, start_shell: Callable, tmp_path):
    world.start(EVENING, apps=("listener",))  # Music is allowed by profile but not installed
    data = tmp_path / "shell-data"
    shell = start_shell(world.agent.socket_path, data_dir=data)
    assert shell.wait_until(lambda: shell.app.agent_reachable and shell.screen() == "home")
    shell.tap(tile(shell, "Music"))
    assert shell.wait_until(
        lambda: shell.app.banner_text == "This app is being updated. Try again later.")
    assert shell.app.running_app is None
    assert not (data / "apps" / "music").exists()
    shell.screenshot("agent-launch-refused")


def test_a_running_app_is_closed_when_curfew_starts(world: World, start_shell: Callable, tmp_path):
    install_recording_app(world.agent.state_dir / "apps", "education", lingers=True)
    world.start(TEN_TO_CURFEW, apps=("listener",))
    data = tmp_path / "shell-data"
    shell = start_shell(world.agent.socket_path, data_dir=data)
    assert shell.wait_until(lambda: shell.app.agent_reachable and shell.screen() == "home")
    shell.tap(tile(shell, "Education"))
    assert shell.wait_until(lambda: shell.app.running_app is not None)
    running = shell.app.running_app
    assert running.running
    assert shell.wait_until(lambda: shell.app.banner_text.startswith("Education closes in"))
    shell.screenshot("agent-app-closing-warning")

    world.advance(11 * 60)
    assert shell.wait_until(lambda: shell.screen() == "curfew", timeout=20)
    assert shell.wait_until(lambda: not running.running and shell.app.running_app is None)
    pid = int((data / "apps" / "education" / "pid").read_text())
    time.sleep(0.1)
    assert (
        not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    )


def home_with_a_lingering_listener(world: World, start_shell: Callable, tmp_path: Path):
    """The shell on its home screen in the evening, the always-allowed Listener line installed
    as an app that stays open until it is stopped."""
    install_recording_app(world.agent.state_dir / "apps", "listener", lingers=True)
    world.start(EVENING, apps=("education",))
    shell = start_shell(world.agent.socket_path, data_dir=tmp_path / "shell-data")
    assert shell.wait_until(lambda: shell.app.agent_reachable and shell.screen() == "home")
    return shell

def test_an_always_allowed_app_open_when_staff_lock_the_tablet_is_closed_for_the_lock_screen(
    world: World, start_shell: Callable, tmp_path
):
    """A kiosk compositor shows the app on top: left open, it would hide the lock screen."""
    shell = home_with_a_lingering_listener(world, start_shell, tmp_path)
    shell.tap(tile(shell, "Listener line"))
    assert shell.wait_until(lambda: shell.app.running_app is not None)
    running = shell.app.running_app

    world.lock(True, "Cell search in progress")
    assert shell.wait_until(lambda: shell.screen() == "lock", timeout=20)
    assert shell.wait_until(lambda: not running.running and shell.app.running_app is None)


def test_an_always_allowed_app_opened_from_the_lock_screen_stays_open(
    world: World, start_shell: Callable, tmp_path
):
    shell = home_with_a_lingering_listener(world, start_shell, tmp_path)
    world.lock(True, "Cell search in progress")
    assert shell.wait_until(lambda: shell.screen() == "lock", timeout=20)

    shell.tap(tile(shell, "Listener line"))
    assert shell.wait_until(lambda: shell.app.running_app is not None)
    running = shell.app.running_app
    shell.step(30)
    assert running.running and shell.app.running_app is running
