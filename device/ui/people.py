"""Sign-in screens (each drawn by its own .kv: signin.kv, pin.kv, choosepin.kv, changepin.kv) and
the session's part of the App: the signed-in header's name, the person's settings applied while they
are signed in, a clean shell for the next person, and "still here" to the agent on touch.

Every PIN goes to the agent (`device.accounts.ask`) on a worker thread; the answer comes back on
the UI thread. The shell keeps no PIN: the entry is cleared as soon as it is sent.
"""

from __future__ import annotations

import json
import threading
import time
from typing import TYPE_CHECKING, Any

from kivy.app import App
from kivy.clock import Clock
from kivy.properties import BooleanProperty, StringProperty
from kivy.uix.screenmanager import Screen

from device import accounts
from device.theme import PALETTES
from device.ui.tr import tr
from device.ui.widgets import KeyButton, Tile

if TYPE_CHECKING:
    from collections.abc import Callable

    from device.lessons import LessonProgress, Progress
    from wire.localapi import PersonReply, PersonView, ShellState

PAD_KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "del", "0", "ok")
CLEAN_SCREENS = ("lessons", "lesson", "settings", "requests")
"""Screens holding what a person was doing: rebuilt empty for the next person."""


def _ask(op: str, done: Callable[[PersonReply], None], **fields: str) -> None:
    """Ask the agent on a worker thread; `done` runs on the UI thread."""
    app = App.get_running_app()
    path = app.socket_path

    def work() -> None:
        reply = accounts.ask(path, op, fields)
        Clock.schedule_once(lambda _dt: done(reply), -1)

    threading.Thread(target=work, name=f"person-{op}", daemon=True).start()


class PadKey(KeyButton):
    """One key of the PIN pad: larger than a keyboard key (pinpad.kv)."""


class _PadScreen(Screen):
    """A screen with a PIN pad: `digits` typed (shown masked), `message` under it."""

    digits = StringProperty("")
    shown = StringProperty("")
    message = StringProperty("")
    busy = BooleanProperty(False)

    def on_kv_post(self, base_widget: Any) -> None:
        pad = self.ids.pad.ids.grid
        for key in PAD_KEYS:
            label = {"del": tr._("Delete"), "ok": tr._("OK")}.get(key, key)
            button = PadKey(text=label, action=key, icon={"del": "back", "ok": "tick"}.get(key, ""))
            button.bind(on_release=lambda b: self.press(b.action))
            pad.add_widget(button)

    def on_digits(self, _screen: Any, digits: str) -> None:
        self.shown = accounts.masked(digits)
        self.ids.pad.ids.entry.text = self.shown

    def on_message(self, _screen: Any, message: str) -> None:
        self.ids.pad.ids.message.text = message

    def press(self, key: str) -> None:
        if self.busy:
            return
        if key == "ok":
            if self.digits:
                self.submit(self.digits)
            return
        self.digits = accounts.typed(self.digits, key)

    def submit(self, digits: str) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        self.digits = ""
        self.message = ""
        self.busy = False


class SignInScreen(Screen):
    """Who are you? The cell's occupants, first name and initial, as large tiles."""

    def on_pre_enter(self, *_args: Any) -> None:
        self.refresh()

    def refresh(self, *_args: Any) -> None:
        state = App.get_running_app().shell_state
        box = self.ids.people
        box.clear_widgets()
        for person in state.occupants if state is not None else ():
            tile = Tile(icon="people", text=person.display, action=person.number)
            tile.bind(on_release=lambda t: App.get_running_app().people.choose(t.action, t.text))
            box.add_widget(tile)


class PinScreen(_PadScreen):
    number = StringProperty("")
    display = StringProperty("")

    def submit(self, digits: str) -> None:
        self.busy = True
        self.digits = ""
        number = self.number
        _ask("sign_in", self._answered, number=number, pin=digits)
        self.message = tr._("Checking...")

    def _answered(self, reply: PersonReply) -> None:
        self.busy = False
        self.message = accounts.sign_in_message(reply, tr.catalogue)


class ChoosePinScreen(_PadScreen):
    first = StringProperty("")
    """The new PIN typed once; the person types it again to confirm."""

    def submit(self, digits: str) -> None:
        self.digits = ""
        if not self.first:
            self.first = digits
            self.message = tr._("Type the same PIN again.")
            return
        if digits != self.first:
            self.first = ""
            self.message = tr._("The two PINs were not the same. Start again.")
            return
        self.first = ""
        self.busy = True
        self.message = tr._("Saving...")
        _ask("set_pin", self._answered, pin=digits)

    def _answered(self, reply: PersonReply) -> None:
        self.busy = False
        self.message = accounts.set_pin_message(reply, tr.catalogue)

    def clear(self) -> None:
        super().clear()
        self.first = ""


class ChangePinScreen(_PadScreen):
    """A signed-in person changes their PIN: the current one, then the new one twice. The typed
    PINs stay in memory only until they are sent (or Back), never on screen."""

    stage = StringProperty("current")
    """current -> new -> again."""

    def on_kv_post(self, base_widget: Any) -> None:
        super().on_kv_post(base_widget)
        self._old = self._first = ""

    def submit(self, digits: str) -> None:
        self.digits = ""
        if self.stage == "current":
            self._old, self.stage, self.message = digits, "new", ""
            return
        if self.stage == "new":
            self._first, self.stage = digits, "again"
            self.message = tr._("Type the same PIN again.")
            return
        if digits != self._first:
            self._first, self.stage = "", "new"
            self.message = tr._("The two PINs were not the same. Start again.")
            return
        old, self._old, self._first = self._old, "", ""
        self.busy = True
        self.message = tr._("Saving...")
        _ask("change_pin", self._answered, old=old, pin=digits)

    def _answered(self, reply: PersonReply) -> None:
        self.busy = False
        self.stage = "current"
        if reply.outcome == "ok":
            app = App.get_running_app()
            self.clear()
            app.go("home")
            app.show_notice(tr._("Your PIN is changed. Use the new one next time."))
            return
        self.message = accounts.change_pin_message(reply, tr.catalogue)

    def leave(self) -> None:
        self.clear()
        App.get_running_app().go("home")

    def clear(self) -> None:
        super().clear()
        self._old = self._first = ""
        self.stage = "current"


class PeopleSession:
    """The App's side of sessions (owned by ShellApp as `app.people`)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.number: str | None = None
        self._last_active = 0.0
        self._lessons: dict[str, LessonProgress] = {}
        """Steps taken in this session, shown before the agent's state carries them."""

    def choose(self, number: str, display: str) -> None:
        """A tile on the sign-in screen: that person's PIN pad."""
        pin = self.app.screen_widget("pin")
        pin.clear()
        pin.number, pin.display = number, display
        self.app.go("pin")

    def back(self) -> None:
        self.app.screen_widget("pin").clear()
        self.app.go("signin")

    def sign_out(self) -> None:
        _ask("sign_out", lambda _reply: None)

    def save_settings(self, language: str, text_scale: float, theme: str) -> None:
        """The signed-in person changed a setting: it is theirs, not the tablet's."""
        _ask("settings", lambda _reply: None, settings=json.dumps(
            {"language": language, "text_scale": round(text_scale * 100), "theme": theme}))

    def progress(self) -> Progress:
        """The signed-in person's lesson progress: the agent's (theirs, from the gateway and
        this tablet) with this session's latest steps over it."""
        from device.lessons import LessonProgress, Progress

        state = self.app.shell_state
        person = state.person if state is not None else None
        theirs = {lesson_id: LessonProgress(step=value.step, done=value.done)
                  for lesson_id, value in (person.lessons if person is not None else {}).items()}
        return Progress(lessons={**theirs, **self._lessons})

    def save_lesson(self, lesson_id: str, progress: LessonProgress) -> None:
        """A step or the end of a lesson: the person's, kept and sent on by the agent."""
        self._lessons[lesson_id] = progress
        _ask("lesson", lambda _reply: None, lesson=lesson_id,
             state=json.dumps(progress.model_dump()))

    def touched(self) -> None:
        """Someone touched the screen: tell the agent the session is in use (throttled)."""
        now = time.monotonic()
        if self.number is None or now - self._last_active < accounts.ACTIVE_EVERY_S:
            return
        self._last_active = now
        _ask("active", lambda _reply: None)

    def on_state(self, state: ShellState) -> None:
        """Before the screens refresh: a new person (or nobody) gets a clean shell and their own
        settings; nothing of the last person stays on screen."""
        person = state.person
        number = person.number if person is not None else None
        self.app.person_name = person.display if person is not None and not (
            person.must_set_pin) else ""
        if number == self.number:
            return
        self.number = number
        self._last_active = time.monotonic()
        self._lessons = {}
        self._clean()
        self._apply_settings(person)

    def _clean(self) -> None:
        app = self.app
        if app.running_app is not None:
            app.running_app.stop()
        for name in ("pin", "choosepin", "changepin"):
            app.screen_widget(name).clear()
        for name in CLEAN_SCREENS:
            app.forget_screen(name)
        app.user_screen = "home"

    def _apply_settings(self, person: PersonView | None) -> None:
        """Signed in: the person's language, text size and contrast (not saved as the tablet's
        own); signed out: the tablet's own again."""
        app = self.app
        if person is None:
            app.load_prefs()
        else:
            settings = person.settings
            app.palette = PALETTES.get(settings.theme, app.palette)
            app.text_scale = settings.text_scale / 100
            app.show_language(settings.language)
