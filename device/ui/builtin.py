"""The shell's own apps: Digital skills (lesson list and player), Help and settings, Requests, Web.

Each screen's look is its .kv file; here is what the .kv cannot say simply. Lesson content and
progress rules live in device.lessons, request records in device.requests.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kivy.app import App
from kivy.factory import Factory
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout
from kivy.uix.screenmanager import NoTransition, Screen

from device import lessons as lesson_rules
from device import requests as request_rules
from device import web as web_rules
from device.i18n import LANGUAGES, N_
from device.ui.tr import tr
from device.ui.widgets import KeyButton, ShellButton
from wire.requests import MAX_OPEN, TOO_MANY_OPEN

if TYPE_CHECKING:
    from wire.localapi import RequestSaved


def _app() -> Any:
    return App.get_running_app()


class LessonsScreen(Screen):
    """The course: every lesson with how far the prisoner got (words and a tick, not colour)."""

    def on_pre_enter(self, *_args: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        app = _app()
        box = self.ids.list
        box.clear_widgets()
        for lesson in app.lessons:
            mine = app.progress.of(lesson)
            if mine.done:
                status, icon = tr._("Done"), "tick"
            elif mine.step > 0:
                status = tr._("Step {step} of {count}").format(
                    step=mine.step + 1, count=len(lesson.steps)
                )
                icon = "book"
            else:
                status, icon = tr._("Not started"), "book"
            button = ShellButton(icon=icon, text=f"{lesson.title} — {status}", action=lesson.id)
            button.bind(on_release=lambda b: _app().open_lesson(b.action))
            box.add_widget(button)


class LessonScreen(Screen):
    """One lesson, one step at a time; every move is saved, so a restart resumes here."""

    lesson: lesson_rules.Lesson | None = ObjectProperty(None, allownone=True)
    step_index = NumericProperty(0)
    lesson_title = StringProperty("")
    step_title = StringProperty("")
    step_text = StringProperty("")
    step_icon = StringProperty("book")
    position_text = StringProperty("")
    is_last = BooleanProperty(False)

    def show(self, lesson: lesson_rules.Lesson, step: int) -> None:
        self.lesson = lesson
        self._show_step(step)

    def _show_step(self, step: int) -> None:
        lesson = self.lesson
        if lesson is None:
            return
        step = max(0, min(step, len(lesson.steps) - 1))
        current = lesson.steps[step]
        self.step_index = step
        self.lesson_title = lesson.title
        self.step_title = current.title
        self.step_text = current.text
        self.step_icon = current.icon
        self.is_last = step == len(lesson.steps) - 1
        self.position_text = tr._("Step {step} of {count}").format(
            step=step + 1, count=len(lesson.steps)
        )

    def forward(self) -> None:
        if self.lesson is None:
            return
        if self.is_last:
            _app().finish_lesson(self.lesson)
            return
        self._show_step(self.step_index + 1)
        _app().save_lesson_step(self.lesson, self.step_index)

    def back(self) -> None:
        if self.lesson is None:
            return
        self._show_step(self.step_index - 1)
        _app().save_lesson_step(self.lesson, self.step_index)


class SettingsScreen(Screen):
    """Help and settings. Language buttons name each language in itself."""

    def on_kv_post(self, base_widget: Any) -> None:
        box = self.ids.languages
        for code, name in LANGUAGES.items():
            choice = Factory.Choice(text=name, action=code)
            choice.selected = code == _app().language
            _app().bind(
                language=lambda _a, value, c=choice: setattr(c, "selected", value == c.action)
            )
            choice.bind(on_release=lambda c: _app().set_language(c.action))
            box.add_widget(choice)


class OnScreenKeyboard(BoxLayout):
    """Big keys for people new to typing: letters, numbers, a few marks, Shift, Space, Delete."""

    target = ObjectProperty(None, allownone=True)
    shift = BooleanProperty(False)
    ROWS = ("1234567890", "qwertyuiop", "asdfghjkl'", "zxcvbnm,.?")

    def on_kv_post(self, base_widget: Any) -> None:
        self._letters: list[KeyButton] = []
        for row in self.ROWS:
            line = BoxLayout(spacing=self.spacing, size_hint_y=None)
            for char in row:
                key = KeyButton(text=char, action=char)
                key.bind(on_release=lambda k: self.type(k.action))
                line.add_widget(key)
                self._letters.append(key)
            line.bind(minimum_height=line.setter("height"))
            self.add_widget(line)
        last = BoxLayout(spacing=self.spacing, size_hint_y=None)
        for label, action, icon, weight in (
            (N_("Shift"), "shift", "", 1.5),
            (N_("Space"), " ", "", 5),
            (N_("Delete"), "delete", "back", 2),
        ):
            key = KeyButton(text=tr._(label), action=action, icon=icon, size_hint_x=weight)
            key.bind(on_release=lambda k: self.type(k.action))
            last.add_widget(key)
        last.bind(minimum_height=last.setter("height"))
        self.add_widget(last)

    def on_shift(self, _instance: Any, shifted: bool) -> None:
        for key in self._letters:
            key.text = key.action.upper() if shifted else key.action

    def type(self, action: str) -> None:
        field = self.target
        if field is None:
            return
        if action == "shift":
            self.shift = not self.shift
            return
        if action == "delete":
            field.do_backspace()
            return
        if len(field.text) >= request_rules.MAX_TEXT:
            return
        field.insert_text(action.upper() if self.shift else action)
        self.shift = False


class RequestsScreen(Screen):
    """List of the prisoner's requests → choose a type → write → send."""

    type_id = StringProperty("")
    type_label = StringProperty("")
    notice = StringProperty("")

    sending = BooleanProperty(False)

    def on_kv_post(self, base_widget: Any) -> None:
        self.ids.steps.transition = NoTransition()
        for type_id, label, icon in request_rules.REQUEST_TYPES:
            button = ShellButton(icon=icon, text=tr._(label), action=type_id)
            button.bind(on_release=lambda b: self.write(b.action))
            self.ids.types.add_widget(button)
        # The agent's state carries the requests: a delivery or a reply updates the list.
        _app().bind(shell_state=lambda *_a: self._refresh_list())

    def on_pre_enter(self, *_args: Any) -> None:
        self.show_list()

    def _refresh_list(self) -> None:
        if self.ids.steps.current == "list":
            self._fill_list()

    def show_list(self) -> None:
        self.notice = ""
        self._fill_list()
        self.ids.steps.current = "list"

    def _fill_list(self) -> None:
        box = self.ids.sent
        box.clear_widgets()
        state = _app().shell_state
        for request in state.requests if state is not None else ():
            label = request_rules.label_of(request.type)
            status = request_rules.STATUS_LABELS.get(request.status, request.status)
            body = Factory.Body(text=f"{tr._(label)} — {tr._(status)}\n{request.text[:200]}")
            if request.reply:
                body.text += "\n" + tr._("Reply: {reply}").format(reply=request.reply)
            box.add_widget(body)

    def choose_type(self) -> None:
        self.ids.steps.current = "type"

    def write(self, type_id: str) -> None:
        self.type_id = type_id
        self.type_label = tr._(request_rules.label_of(type_id))
        self.notice = ""
        self.ids.text.text = ""
        self.ids.steps.current = "write"

    def send(self) -> None:
        if self.sending:
            return  # one tap, one request
        try:
            text = request_rules.checked_text(self.type_id, self.ids.text.text)
        except ValueError as exc:
            self.notice = tr._(str(exc))
            return
        self.sending = True
        self.notice = tr._("Sending…")
        _app().send_request(self.type_id, text, self._sent)

    def _sent(self, saved: RequestSaved) -> None:
        self.sending = False
        if saved.ok:
            self.show_list()
        elif saved.reason == TOO_MANY_OPEN:  # the text stays, so nothing written is lost
            self.notice = tr._("You have {count} requests waiting for an answer. Please wait for "
                               "an answer before you send another.").format(count=MAX_OPEN)
        else:
            self.notice = tr._("Your request could not be saved. Please try again.")


class WebScreen(Screen):
    """The Web app: the sites this tablet may use now, each a big button that opens it in the
    kiosk browser; and the blocked screen, when the gateway refused a page the browser asked for,
    with "Ask for this site" (a request to staff through the Requests path)."""

    intro = StringProperty("")
    notice = StringProperty("")
    blocked_title = StringProperty("")
    blocked_detail = StringProperty("")
    blocked_host = StringProperty("")
    can_ask = BooleanProperty(False)
    asking = BooleanProperty(False)
    ask_notice = StringProperty("")

    def on_kv_post(self, base_widget: Any) -> None:
        self.ids.steps.transition = NoTransition()
        _app().bind(shell_state=lambda *_a: self.refresh(), language=lambda *_a: self.refresh())

    def on_pre_enter(self, *_args: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        app = _app()
        state = app.shell_state
        web = state.web if state is not None else None
        box = self.ids.sites
        box.clear_widgets()
        t = tr.catalogue
        if web is None or not web.available:
            self.intro = tr._("The internet is not available on this tablet.")
            return
        if not web.sites:
            self.intro = tr._("There are no websites on your list right now. "
                              "You can ask staff for a site with a request.")
            return
        self.intro = tr._("These are the websites you can use. Tap one to open it.")
        now = app.trusted_now_ms()
        for site in web.sites:
            words = [web_rules.purpose_label(site.purpose, t),
                     web_rules.until_text(site.until, now, state.timezone, t)]
            button = Factory.WebSiteButton(
                icon=web_rules.purpose_icon(site.purpose),
                text=site.title + "\n" + " — ".join(w for w in words if w), action=site.site)
            button.bind(on_release=lambda b: self.open(b.action))
            box.add_widget(button)

    def open(self, site: str) -> None:
        self.notice = tr._("Opening…")
        _app().open_site(site, self._opened)

    def _opened(self, ok: bool, reason: str) -> None:
        self.notice = "" if ok else tr._("This site cannot be opened right now.")

    def show_list(self) -> None:
        self.ids.steps.current = "list"
        self.refresh()

    def show_blocked(self, host: str, reason: str) -> None:
        t = tr.catalogue
        self.blocked_host = host
        self.blocked_title = web_rules.blocked_title(reason, t)
        self.blocked_detail = web_rules.blocked_detail(reason, host, t)
        self.can_ask = web_rules.may_ask(reason, host)
        self.asking = False
        self.ask_notice = ""
        self.ids.steps.current = "blocked"

    def ask(self) -> None:
        if self.asking or not self.can_ask:
            return  # one tap, one request
        self.asking = True
        self.ask_notice = tr._("Sending…")
        _app().send_request("general", web_rules.ask_text(self.blocked_host), self._asked)

    def _asked(self, saved: RequestSaved) -> None:
        if saved.ok:
            self.ask_notice = tr._("Your request was saved. Staff will answer in Requests.")
            self.can_ask = False
            self.asking = False
            return
        self.asking = False
        if saved.reason == TOO_MANY_OPEN:
            self.ask_notice = tr._("You have {count} requests waiting for an answer. Please wait "
                                   "for an answer before you send another.").format(count=MAX_OPEN)
        else:
            self.ask_notice = tr._("Your request could not be saved. Please try again.")
