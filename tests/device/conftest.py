"""Fixtures for the shell: a real Kivy window under Xvfb (one per test process, as Kivy allows one
window per process) and the real ShellApp run in-process, its event loop stepped the way Kivy's
own GraphicUnitTest does (`EventLoop.idle()`).

Nothing here imports Kivy at module level: the environment must be set before Kivy's import.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.display import Xvfb, kivy_environ

SCREENSHOT_DIR_ENV = "CELLBRIDGE_SCREENSHOT_DIR"
"""Set it (e.g. to docs/screenshots) to keep the screenshots the tests take; else a temp dir."""


@pytest.fixture(scope="session")
def kivy_window(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    work = tmp_path_factory.mktemp("display")
    xvfb = Xvfb().start()
    saved = {k: os.environ.get(k) for k in ("DISPLAY",)}
    os.environ["DISPLAY"] = xvfb.display
    for key, value in kivy_environ(work / "kivy").items():
        os.environ.setdefault(key, value)
    try:
        from device.ui.config import configure

        configure(fullscreen=False)
        from kivy.base import EventLoop
        from kivy.core.window import Window

        EventLoop.ensure_window()
        EventLoop.start()
        yield Window
        EventLoop.close()
        Window.close()
    finally:
        xvfb.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class ShellDriver:
    """Runs one ShellApp in the test's window and steps its event loop."""

    def __init__(self, app: Any, window: Any, shots: Path) -> None:
        self.app = app
        self.window = window
        self.shots = shots

    def step(self, frames: int = 3) -> None:
        from kivy.base import EventLoop

        for _ in range(frames):
            EventLoop.idle()

    def wait_until(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Step frames until `condition` holds; False if it never does within `timeout` (a guard
        against hanging, not a performance assertion)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.step(1)
            if condition():
                self.step(2)
                return True
            time.sleep(0.01)
        return False

    def screen(self) -> str:
        return str(self.app.root.ids.sm.current)

    def screenshot(self, name: str) -> Path:
        self.step(2)
        path = self.app.save_screenshot(self.shots / f"{name}.png")
        assert path.stat().st_size > 1000
        return path

    def press_key(self, key: int, modifiers: list[str], codepoint: str = "") -> bool:
        """A key as SDL delivers it: key down (Kivy's keyboard event) and up. True if eaten."""
        eaten = bool(self.window.dispatch("on_key_down", key, 0, codepoint, modifiers))
        eaten = bool(self.window.dispatch("on_keyboard", key, 0, codepoint, modifiers)) or eaten
        self.window.dispatch("on_key_up", key, 0)
        self.step(2)
        return eaten

    def tap(self, widget: Any, hold_s: float = 0.0) -> None:
        """A one-finger tap on the centre of `widget`, through the window like a real touch."""
        from kivy.tests.common import UnitTestTouch

        x, y = widget.to_window(*widget.center)
        touch = UnitTestTouch(x, y)
        touch.touch_down()
        self.step(1)
        if hold_s:
            touch.time_update = touch.time_start + hold_s
        touch.touch_up()
        # A ScrollView hands a still touch to its children only after its scroll_timeout: inside
        # one, let that pass. Elsewhere the release is dispatched at once; a button's pressed
        # look lasts min_state_time (35 ms) more.
        timeout_ms = max((getattr(w, "scroll_timeout", 0) for w in ancestors(widget)), default=0)
        self.settle(timeout_ms / 1000 + 0.1 if timeout_ms else 0.05)

    def settle(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self.step(1)
            time.sleep(0.01)
        self.step(2)


def ancestors(widget: Any) -> Iterator[Any]:
    """The widgets that hold `widget`, up to the window."""
    parent = widget.parent
    while parent is not None and parent is not parent.parent:
        yield parent
        parent = parent.parent


def shots_dir(tmp_path: Path, theme: str = "standard") -> Path:
    base = os.environ.get(SCREENSHOT_DIR_ENV)
    return (Path(base) if base else tmp_path / "screenshots") / theme


@pytest.fixture
def start_shell(kivy_window: Any, tmp_path: Path) -> Iterator[Callable[..., ShellDriver]]:
    """Start the real ShellApp: `start_shell(socket=..., connect=..., theme=...)`."""
    started: list[Any] = []

    def start(
        socket: Path | None = None,
        *,
        connect: bool = True,
        data_dir: Path | None = None,
        theme: str = "standard",
    ) -> ShellDriver:
        from device import prefs
        from device.ui.app import ShellApp

        data = data_dir or tmp_path / "shell-data"
        if theme != "standard":
            prefs.save(data / "prefs.json", prefs.Prefs(theme=theme))  # type: ignore[arg-type]
        app = ShellApp(socket or tmp_path / "no-agent.sock", data, connect=connect)
        app._run_prepare()
        started.append(app)
        driver = ShellDriver(app, kivy_window, shots_dir(tmp_path, theme))
        driver.step(3)
        return driver

    yield start
    for app in started:
        stop_app(app, kivy_window)


@pytest.fixture(scope="module")
def shared_shell(kivy_window: Any, tmp_path_factory: pytest.TempPathFactory
                 ) -> Iterator[ShellDriver]:
    """One real ShellApp (no agent link) for a whole test module: cheaper than one per test on
    a loaded machine. Each test sets what it needs (agent state, theme, text size, language) and
    relies on nothing an earlier test left; a module using it uses no `start_shell`."""
    from device.ui.app import ShellApp

    work = tmp_path_factory.mktemp("shared-shell")
    app = ShellApp(work / "no-agent.sock", work / "shell-data", connect=False)
    app._run_prepare()
    driver = ShellDriver(app, kivy_window, shots_dir(work))
    driver.step(3)
    yield driver
    stop_app(app, kivy_window)


def stop_app(app: Any, window: Any) -> None:
    """What App.stop does, minus stopping the process-wide event loop the next test needs."""
    from kivy.app import App

    app.dispatch("on_stop")
    for child in window.children[:]:
        window.remove_widget(child)
    App._running_app = None


@pytest.fixture
def world(broker: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A broker, a real agent process holding the sample wing policy, and a publisher with the
    wing's key (tests/device/test_shell_with_agent.py: World)."""
    from tests.device.test_shell_with_agent import World

    w = World(broker, tmp_path, monkeypatch)
    yield w
    w.close()
