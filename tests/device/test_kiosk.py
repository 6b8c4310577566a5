"""No way out: every escape key, the window manager's close, long presses and multi-touch gestures
are tried on the real shell window, and the shell is still there, on the same screen."""

from __future__ import annotations

import pytest

from device.kiosk import ESCAPE, F1
from tests.device.states import state

pytestmark = pytest.mark.gui

F4, TAB = 285, 9
ESCAPES = [
    ("Escape", ESCAPE, []),
    ("Alt+F4", F4, ["alt"]),
    ("Ctrl+C", ord("c"), ["ctrl"]),
    ("Ctrl+Q", ord("q"), ["ctrl"]),
    ("Ctrl+W", ord("w"), ["ctrl"]),
    ("Alt+Tab", TAB, ["alt"]),
    ("Super", 309, ["meta"]),
    ("F1 (Kivy settings panel)", F1, []),
]


def still_in_front(shell, screen: str) -> bool:
    from kivy.app import App
    from kivy.base import EventLoop

    return (
        App.get_running_app() is shell.app
        and shell.app.root in shell.window.children
        and not EventLoop.quit
        and EventLoop.status == "started"
        and shell.screen() == screen
    )


@pytest.mark.parametrize(("name", "key", "modifiers"), ESCAPES, ids=[e[0] for e in ESCAPES])
def test_escape_keys_do_nothing(start_shell, name, key, modifiers):
    shell = start_shell(connect=False)
    shell.app.on_agent_state(state())
    shell.app.go("lessons")
    shell.step()
    assert shell.press_key(key, modifiers), f"{name} reached Kivy's default handling"
    assert still_in_front(shell, "lessons")


def test_escape_on_the_lock_screen_does_not_unlock(start_shell):
    from tests.device.states import locked

    shell = start_shell(connect=False)
    shell.app.on_agent_state(locked())
    shell.step()
    for _name, key, modifiers in ESCAPES:
        shell.press_key(key, modifiers)
    assert still_in_front(shell, "lock")


def test_window_close_request_is_refused(start_shell):
    shell = start_shell(connect=False)
    shell.app.on_agent_state(state())
    shell.step()
    assert shell.window.dispatch("on_request_close") is True
    assert shell.window.dispatch("on_request_close", source="keyboard") is True
    shell.step()
    assert still_in_front(shell, "home")


def tile(shell, label):
    return next(
        t for t in shell.app.root.ids.sm.current_screen.ids.tiles.children if t.text == label
    )


def test_a_tap_on_a_tile_opens_it(start_shell):
    shell = start_shell(connect=False)
    shell.app.on_agent_state(state())
    shell.step()
    shell.tap(tile(shell, "Help and settings"))
    assert shell.screen() == "settings"


def test_a_long_press_does_nothing(start_shell):
    shell = start_shell(connect=False)
    shell.app.on_agent_state(state())
    shell.step()
    shell.tap(tile(shell, "Help and settings"), hold_s=3.0)
    assert still_in_front(shell, "home")


def test_a_two_finger_gesture_does_nothing(start_shell):
    from kivy.tests.common import UnitTestTouch

    shell = start_shell(connect=False)
    shell.app.on_agent_state(state())
    shell.step()
    target = tile(shell, "Help and settings")
    x, y = target.to_window(*target.center)
    first, second = UnitTestTouch(x, y), UnitTestTouch(x + 20, y + 10)
    first.touch_down()
    shell.step(1)
    second.touch_down()
    shell.step(1)
    second.touch_move(x + 80, y + 60)  # a pinch/swipe
    shell.step(1)
    second.touch_up()
    first.touch_up()
    shell.step(3)
    assert still_in_front(shell, "home")
    assert target.state == "normal"


def test_an_error_in_the_ui_shows_a_calm_screen_without_a_stack_trace(start_shell):
    from kivy.base import ExceptionManager
    from kivy.uix.label import Label

    shell = start_shell(connect=False)
    shell.app.on_agent_state(state())
    shell.step()
    try:
        raise RuntimeError("boom: secret internals at /usr/lib/python3")
    except RuntimeError as exc:
        # What Kivy's main loop does with an exception raised in a callback.
        assert ExceptionManager.handle_exception(exc) == ExceptionManager.PASS
    shell.step()
    assert shell.screen() == "error"
    texts = " ".join(w.text for w in shell.app.root.walk() if isinstance(w, Label))
    assert "Something went wrong" in texts
    for leak in ("Traceback", "RuntimeError", "boom", "/usr/lib", 'File "'):
        assert leak not in texts
    shell.screenshot("error")
    home = next(
        w for w in shell.app.root.ids.sm.current_screen.walk() if getattr(w, "text", "") == "Home"
    )
    shell.tap(home)
    assert shell.screen() == "home"


def test_the_shell_tells_systemd_it_is_ready_and_keeps_its_watchdog_fed(
    start_shell, tmp_path, monkeypatch
):
    """Under systemd (Type=notify, WatchdogSec=) a frozen UI stops the pings and gets restarted."""
    import os
    import socket

    address = str(tmp_path / "notify.sock")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(address)
    receiver.settimeout(5)
    monkeypatch.setenv("NOTIFY_SOCKET", address)
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    try:
        shell = start_shell(connect=False)
        shell.app.on_agent_state(state())
        received = []
        shell.wait_until(lambda: _drain(receiver, received) and received.count(b"WATCHDOG=1") >= 2)
        assert received[0] == b"READY=1"
        assert received.count(b"WATCHDOG=1") >= 2
    finally:
        receiver.close()


def _drain(receiver, into) -> bool:
    receiver.setblocking(False)
    try:
        while True:
            into.append(receiver.recv(64))
    except BlockingIOError:
        return True


def test_the_shell_never_waits_on_the_compositor_to_draw(start_shell):
    """vsync off: a kiosk compositor sends no frame callbacks to a surface an app covers, and a
    swap that waits for one froze the UI loop (the boot test: the watchdog then killed the shell
    and the app with it)."""
    from kivy.config import Config

    start_shell(connect=False)
    assert Config.get("graphics", "vsync") == "0"
