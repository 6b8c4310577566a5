"""The shell's Kivy App. Its properties are the view state the .kv files bind to; every value is
computed by the pure rules in device.view from the last `ShellState` the agent sent.

Threads: the AgentLink reads the socket on its own thread and hands each state over with
`Clock.schedule_once`; everything below runs on the UI thread.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kivy.app import App
from kivy.base import ExceptionHandler, ExceptionManager
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.lang import Builder
from kivy.properties import (
    BooleanProperty,
    ListProperty,
    NumericProperty,
    ObjectProperty,
    StringProperty,
)
from kivy.uix.screenmanager import Screen

from device import prefs as prefs_store
from device import view
from device import web as web_rules
from device.i18n import LANGUAGES
from device.kiosk import swallows
from device.theme import PALETTES, STANDARD
from device.ui import screens
from device.ui.people import PeopleSession
from device.ui.tr import tr

if TYPE_CHECKING:
    from collections.abc import Callable

    from device import lessons as lesson_rules
    from device.agent_link import AgentLink
    from wire.localapi import RequestSaved, ShellState

log = logging.getLogger(__name__)

FIRST_FRAME_FILE_ENV = "CELLBRIDGE_FIRST_FRAME_FILE"
"""Benchmarks set it: the shell writes the wall-clock time of its first frame there."""
KV_DIR = Path(__file__).resolve().parent.parent / "kv"
SCREENS: dict[str, tuple[str, str, str]] = {
    "lock": ("device.ui.screens", "LockScreen", "lock.kv"),
    "home": ("device.ui.screens", "HomeScreen", "home.kv"),
    "curfew": ("device.ui.screens", "CurfewScreen", "curfew.kv"),
    "updating": ("device.ui.screens", "UpdatingScreen", "updating.kv"),
    "error": ("device.ui.screens", "ErrorScreen", "error.kv"),
    "lessons": ("device.ui.builtin", "LessonsScreen", "lessons.kv"),
    "lesson": ("device.ui.builtin", "LessonScreen", "lesson.kv"),
    "settings": ("device.ui.builtin", "SettingsScreen", "settings.kv"),
    "requests": ("device.ui.builtin", "RequestsScreen", "requests.kv"),
    "web": ("device.ui.builtin", "WebScreen", "web.kv"),
    "signin": ("device.ui.people", "SignInScreen", "signin.kv"),
    "pin": ("device.ui.people", "PinScreen", "pin.kv"),
    "choosepin": ("device.ui.people", "ChoosePinScreen", "choosepin.kv"),
    "changepin": ("device.ui.people", "ChangePinScreen", "changepin.kv"),
}
"""name -> (module, class, .kv file). The lock screen is built first (it is what a shell that
knows nothing yet must show); the others are built one per frame after the first frame, or at
once when needed sooner."""
FORCED = frozenset({"lock", "curfew", "updating"})
TICK_S = 1.0
NOTICE_S = 6.0

_kv_loaded: set[str] = set()


def load_kv(name: str) -> None:
    """Load one .kv file, once per process (a second App in the same process reuses it)."""
    if name in _kv_loaded:
        return
    if name == "base.kv":
        from device.ui import icons, widgets  # noqa: F401  (registered before rules name them)
    Builder.load_file(str(KV_DIR / name))
    _kv_loaded.add(name)


class ShellApp(App):
    """The prisoner's shell: shows what the agent says, and nothing the agent has not allowed."""

    # what is on screen
    screen = StringProperty("lock")
    user_screen = StringProperty("home")
    """Where the prisoner is; a lock, curfew or update covers it and gives it back after."""
    agent_reachable = BooleanProperty(False)
    shell_state: ShellState = ObjectProperty(None, allownone=True)

    # preferences
    palette = ObjectProperty(STANDARD, rebind=True)
    text_scale = NumericProperty(1.0)
    language = StringProperty("en")

    # status bar and banner
    clock_text = StringProperty("--:--")
    curfew_text = StringProperty("")
    connection_icon = StringProperty("unlinked")
    connection_text = StringProperty("")
    update_text = StringProperty("")
    banner_text = StringProperty("")
    banner_icon = StringProperty("")
    banner_kind = StringProperty("warning")

    # forced screens
    lock_title = StringProperty("")
    lock_icon = StringProperty("sunrise")
    lock_reason = StringProperty("")
    lock_detail = StringProperty("")
    curfew_until = StringProperty("")
    curfew_name = StringProperty("")
    curfew_title = StringProperty("")
    update_progress = NumericProperty(0)
    error_text = StringProperty("")

    person_name = StringProperty("")
    """Who is signed in (the header's name; "" for nobody, and under a lock or curfew)."""

    notice = StringProperty("")
    """A short message of the shell's own (an app starting or refused), shown as a banner."""

    home_apps = ListProperty()
    restricted_apps = ListProperty()

    def __init__(
        self,
        socket_path: Path | str,
        data_dir: Path,
        *,
        screenshots: Path | None = None,
        connect: bool = True,
        **kwargs: Any,
    ) -> None:
        """`connect=False` leaves the agent link closed: the view is then driven by calling
        `on_agent_state` directly (screenshots of every screen for the docs)."""
        super().__init__(**kwargs)
        self.connect = connect
        self.title = "Cellbridge"
        self.socket_path = Path(socket_path)
        self.data_dir = Path(data_dir)
        self.screenshots = screenshots
        self._received_at = time.monotonic()
        self._shot_pending: str | None = None
        self._shot_count = 0
        self._first_frame_done = False
        self.frames_after_state = 0
        self.last_state_monotonic = 0.0
        self.last_state_frame_monotonic = 0.0
        self.link: AgentLink | None = None
        self.running_app: Any = None
        self._notice_event: Any = None
        self._screens: dict[str, Screen] = {}
        self._exception_handler = _ShowErrorScreen(self)
        self._tick_event: Any = None
        self._prebuild_event: Any = None
        self._watchdog_event: Any = None
        self._prebuild: list[str] = []
        self._root_sm: Any = None
        self._lessons: tuple[lesson_rules.Lesson, ...] | None = None
        self.web_site: str | None = None
        """The site the running browser was opened on (while `running_app` is the browser)."""
        self._blocked_seen: int | None = None
        """The agent's latest refusal already dealt with (None: no state seen yet)."""
        self._forced_seen: view.ForcedScreen | None = None
        """The screen the last state imposed (lock, curfew, updating), to tell one beginning."""
        self._progress: lesson_rules.Progress | None = None
        self.people = PeopleSession(self)

    # --- Kivy lifecycle -------------------------------------------------------------------

    def build(self) -> screens.ShellRoot:
        load_kv("base.kv")
        load_kv("personbar.kv")
        load_kv("pinpad.kv")
        self._load_prefs()
        # Until the agent speaks, the shell knows nothing: locked, and saying it is getting ready.
        self.lock_title = tr._("The tablet is getting ready")
        self.lock_reason = tr._("Please wait a moment.")
        root = screens.ShellRoot()
        self._root_sm = root.ids.sm
        self.screen_widget("lock")
        return root

    def on_start(self) -> None:
        Window.bind(on_request_close=self._refuse_close, on_keyboard=self._on_keyboard)
        Window.bind(on_flip=self._on_flip, on_touch_down=self._touched)
        ExceptionManager.add_handler(self._exception_handler)

    def _boot(self, _dt: float = 0) -> None:
        """After the first frame: the agent link, the clock tick, then the other screens."""
        from device import watchdog
        from device.agent_link import AgentLink
        from wire.localapi import failsafe_state

        watchdog.notify("READY=1")
        interval = watchdog.ping_interval()
        if interval is not None:
            self._watchdog_event = Clock.schedule_interval(
                lambda _dt: watchdog.notify("WATCHDOG=1"), interval
            )

        if self.shell_state is None:
            self._apply(failsafe_state("unknown", tr._("The tablet is starting. Please wait.")))
        self._tick_event = Clock.schedule_interval(lambda _dt: self._refresh_clock(), TICK_S)
        if self.connect:
            self.link = AgentLink(self.socket_path, self._state_from_link, self._lost_from_link)
            self.link.start()
        self._prebuild = [n for n in SCREENS if n not in self._screens]
        self._prebuild_event = Clock.schedule_interval(self._prebuild_one, 0)

    def _prebuild_one(self, _dt: float) -> bool:
        while self._prebuild:
            name = self._prebuild.pop(0)
            if name not in self._screens:
                self.screen_widget(name)
                return True
        return False

    def screen_widget(self, name: str) -> Screen:
        """The screen called `name`, built (and its .kv loaded) the first time it is needed."""
        screen = self._screens.get(name)
        if screen is None:
            module, cls, kv = SCREENS[name]
            load_kv(kv)
            screen = getattr(importlib.import_module(module), cls)(name=name)
            self._screens[name] = screen
            self._root_sm.add_widget(screen)
        return screen

    def forget_screen(self, name: str) -> None:
        """Drop a built screen (it is built afresh, empty, when next needed)."""
        screen = self._screens.pop(name, None)
        if screen is not None and self._root_sm is not None:
            if self._root_sm.current == name:
                self._show("home")
            self._root_sm.remove_widget(screen)

    def _touched(self, *_args: Any) -> bool:
        self.people.touched()
        return False

    def on_stop(self) -> None:
        if self.running_app is not None:
            self.running_app.stop()
        for event in (self._prebuild_event, self._watchdog_event):
            if event is not None:
                event.cancel()
        if self.link is not None:
            self.link.stop()
        if self._tick_event is not None:
            self._tick_event.cancel()
        Window.unbind(on_request_close=self._refuse_close, on_keyboard=self._on_keyboard)
        Window.unbind(on_flip=self._on_flip, on_touch_down=self._touched)
        if self._exception_handler in ExceptionManager.handlers:
            ExceptionManager.remove_handler(self._exception_handler)

    # Kivy's F1 settings panel would be a way out of the kiosk.
    def open_settings(self, *_args: Any) -> bool:
        return False

    def close_settings(self, *_args: Any) -> bool:
        return False

    # --- kiosk ----------------------------------------------------------------------------

    def _refuse_close(self, *_args: Any, **_kwargs: Any) -> bool:
        log.info("window close request refused")
        return True

    def _on_keyboard(
        self, _window: Any, key: int, _scancode: Any, _codepoint: Any, modifiers: Any
    ) -> bool:
        return swallows(key, modifiers or ())

    # --- agent link (called on the link's thread) -----------------------------------------

    def _state_from_link(self, state: ShellState) -> None:
        received = time.monotonic()
        Clock.schedule_once(lambda _dt: self.on_agent_state(state, received), -1)

    def _lost_from_link(self, reason: str) -> None:
        Clock.schedule_once(lambda _dt: self.on_agent_lost(reason), -1)

    # --- view state (UI thread) -----------------------------------------------------------

    def on_agent_state(self, state: ShellState, received: float | None = None) -> None:
        self.agent_reachable = True
        self._apply(state, received)

    def on_agent_lost(self, reason: str) -> None:
        from wire.localapi import failsafe_state

        log.warning("agent unreachable (%s): showing the lock screen", reason)
        device = self.shell_state.device if self.shell_state is not None else "unknown"
        self.agent_reachable = False
        self._apply(failsafe_state(device, tr._("The tablet is not ready. Please wait.")))

    def _apply(self, state: ShellState, received: float | None = None) -> None:
        self._received_at = received if received is not None else time.monotonic()
        self.last_state_monotonic = self._received_at
        self.frames_after_state = 0
        self.shell_state = state
        self._refresh()

    def trusted_now_ms(self) -> int | None:
        """The agent's trusted clock carried forward with the monotonic clock since it spoke."""
        state = self.shell_state
        if state is None or state.trusted_time is None:
            return None
        return state.trusted_time + int((time.monotonic() - self._received_at) * 1000)

    def _refresh(self) -> None:
        state = self.shell_state
        if state is None:
            return
        self.people.on_state(state)
        t = tr.catalogue
        self.lock_title = view.lock_title(state, t)
        self.lock_icon = view.lock_icon(state)
        self.lock_reason = view.lock_reason_text(state, t)
        since = view.lock_since_text(state, t)
        self.lock_detail = (
            " ".join(filter(None, [since, tr._("Ask a member of staff if you need help.")]))
            if state.lock.source != "failsafe"
            else ""
        )
        self.curfew_name = view.curfew_name(state)
        self.curfew_until = view.curfew_ends_text(state, t)
        self.curfew_title = view.curfew_title(state, t)
        self.update_progress = state.update.progress
        self.home_apps = list(view.home_tiles(state, self.language))
        self.restricted_apps = list(view.restricted_tiles(state, self.language))
        for name, apps in (
            ("home", self.home_apps),
            ("lock", self.restricted_apps),
            ("curfew", self.restricted_apps),
        ):
            if name in self._screens:
                self._screens[name].refresh(apps)
        self._refresh_clock()
        self._notice_blocked(state)
        self._show(view.screen_for(state, self.user_screen))
        self._enforce_running_app()

    def _refresh_clock(self) -> None:
        """Status bar and banner: recomputed every tick, since they count down."""
        state = self.shell_state
        if state is None:
            return
        t = tr.catalogue
        now = self.trusted_now_ms()
        self.clock_text = view.clock_text(now, state.timezone)
        self.curfew_text = view.curfew_status(state, now, t)
        self.connection_icon, self.connection_text = view.connection_status(
            state, self.agent_reachable, t
        )
        self.update_text = view.update_status(state, t)
        running = self.running_app.app_id if self.running_app is not None else None
        banner = view.banner(state, now, t, running, self.language)
        if banner is None and self.notice and view.forced_screen(state) is None:
            banner = view.Banner("info", "app", self.notice)
        self.banner_text = banner.text if banner else ""
        self.banner_icon = banner.icon if banner else ""
        self.banner_kind = banner.kind if banner else "warning"

    def _show(self, name: str) -> None:
        self.screen_widget(name)
        self.screen = name
        if self._root_sm is not None:
            self._root_sm.current = name
        self._request_screenshot(name)

    # --- navigation (prisoner's taps) -----------------------------------------------------

    def go(self, name: str) -> None:
        """Open a shell screen the prisoner asked for; a lock or curfew still covers it."""
        if name not in SCREENS or name in FORCED:
            log.warning("no such screen %r", name)
            return
        self.user_screen = name
        if self.shell_state is not None:
            self._show(view.screen_for(self.shell_state, name))

    def launch(self, app_id: str) -> None:
        """Start an external app: ask the agent (off the UI thread); only its yes starts it."""
        state = self.shell_state
        if state is None or self.running_app is not None:
            return
        offered = self.restricted_apps if view.forced_screen(state) else self.home_apps
        tile = next((a for a in offered if a.id == app_id), None)
        if tile is None:
            log.warning("launch of %s refused: not offered on this screen", app_id)
            return
        self.show_notice(tr._("Starting {name}…").format(name=tile.name))
        threading.Thread(
            target=self._ask_and_start, args=(app_id, tile.name), name="launch", daemon=True
        ).start()

    def _ask_and_start(self, app_id: str, name: str) -> None:
        from device import launcher

        reply = launcher.ask_agent(self.socket_path, app_id)
        running = None
        why = "" if reply.ok else reply.reason
        if reply.ok:
            try:
                running = launcher.start(reply, self.data_dir / "apps" / app_id)
            except (OSError, ValueError) as exc:
                log.error("%s would not start: %s", app_id, exc)
        else:
            log.warning("agent refused %s: %s", app_id, reply.reason)
        Clock.schedule_once(lambda _dt: self._launched(app_id, name, running, why), -1)

    def _launched(self, app_id: str, name: str, running: Any, why: str = "") -> None:
        if running is None:
            self.show_notice(view.refusal_text(why, name, tr.catalogue))
            return
        self.running_app = running
        self.show_notice("")
        threading.Thread(target=self._wait_app, args=(running,), daemon=True).start()
        self._enforce_running_app()  # the state may have changed while the agent answered

    def _wait_app(self, running: Any) -> None:
        running.process.wait()
        Clock.schedule_once(lambda _dt: self._app_exited(running), -1)

    def _app_exited(self, running: Any) -> None:
        if self.running_app is running:
            self.running_app = None
        log.info(
            "%s exited (%s); the shell comes back to the front",
            running.app_id,
            running.process.returncode,
        )
        Window.raise_window()

    def _enforce_running_app(self) -> None:
        """Close a running app the current state no longer allows (curfew, lock, profile), and
        any app at all when a lock, curfew or blocking update begins."""
        running, state = self.running_app, self.shell_state
        if state is None:
            return
        forced = view.forced_screen(state)
        begun = view.closes_open_apps(self._forced_seen, forced)
        self._forced_seen = forced
        if running is None:
            return
        if begun:
            log.info("closing %s: %s begins", running.app_id, forced)
            threading.Thread(target=running.stop, name="stop-app", daemon=True).start()
            return
        if running.app_id == web_rules.APP_ID:
            # The browser: only while its site is on the Web app's list (which is empty while
            # locked, in curfew or in a lockdown) and nothing covers the shell.
            sites = state.web.sites if view.forced_screen(state) is None else ()
            if any(s.site == self.web_site for s in sites):
                return
        else:
            offered = self.restricted_apps if view.forced_screen(state) else self.home_apps
            if any(a.id == running.app_id for a in offered):
                return
        log.info("closing %s: no longer allowed", running.app_id)
        threading.Thread(target=running.stop, name="stop-app", daemon=True).start()

    def show_notice(self, text: str) -> None:
        self.notice = text
        self._refresh_clock()
        if self._notice_event is not None:
            self._notice_event.cancel()
        if text:
            self._notice_event = Clock.schedule_once(lambda _dt: self.show_notice(""), NOTICE_S)

    # --- built-in apps --------------------------------------------------------------------

    @property
    def lessons(self) -> tuple[lesson_rules.Lesson, ...]:
        if self._lessons is None:
            from device import lessons as lesson_rules

            self._lessons = lesson_rules.load_lessons(language=self.language)
        return self._lessons

    @property
    def progress(self) -> lesson_rules.Progress:
        """The signed-in person's progress (from the agent), else the tablet's own file."""
        if self.people.number is not None:
            return self.people.progress()
        if self._progress is None:
            from device import lessons as lesson_rules

            self._progress = lesson_rules.load_progress(self.progress_path)
        return self._progress

    @property
    def progress_path(self) -> Path:
        return self.data_dir / "lesson-progress.json"

    def open_lesson(self, lesson_id: str) -> None:
        lesson = next((x for x in self.lessons if x.id == lesson_id), None)
        if lesson is None:
            log.warning("no lesson %r", lesson_id)
            return
        mine = self.progress.of(lesson)
        screen = self.screen_widget("lesson")
        screen.show(lesson, 0 if mine.done else mine.step)
        self.go("lesson")

    def save_lesson_step(self, lesson: lesson_rules.Lesson, step: int) -> None:
        self._keep_progress(lesson, self.progress.at_step(lesson, step))

    def finish_lesson(self, lesson: lesson_rules.Lesson) -> None:
        self._keep_progress(lesson, self.progress.finished(lesson))
        self.go("lessons")

    def _keep_progress(self, lesson: lesson_rules.Lesson, progress: lesson_rules.Progress) -> None:
        """A signed-in person's step goes to the agent (theirs), never into the tablet's file."""
        from device.lessons import save_progress

        if self.people.number is not None:
            self.people.save_lesson(lesson.id, progress.of(lesson))
            return
        self._progress = progress
        save_progress(self.progress_path, progress)

    def send_request(self, type_id: str, text: str,
                     done: Callable[[RequestSaved], None]) -> None:
        """Hand a request to the agent off the UI thread; `done` runs on the UI thread."""
        from device import requests as request_rules

        def work() -> None:
            saved = request_rules.send(self.socket_path, type_id, text)
            if saved.ok:
                log.info("request %s (%s) saved by the agent", saved.id, type_id)
            else:
                log.warning("request not saved: %s", saved.reason)
            Clock.schedule_once(lambda _dt: done(saved), -1)

        threading.Thread(target=work, name="request", daemon=True).start()

    def open_site(self, site: str, done: Callable[[bool, str], None]) -> None:
        """Open `site` in the kiosk browser on the agent's yes (off the UI thread); `done(ok,
        reason)` runs on the UI thread."""
        if self.running_app is not None:
            done(False, "something is already open")
            return

        def work() -> None:
            from device import launcher

            reply = web_rules.open_site(self.socket_path, site)
            running = None
            if reply.ok:
                try:
                    running = launcher.start(reply, self.data_dir / "apps" / web_rules.APP_ID)
                except (OSError, ValueError) as exc:
                    log.error("the browser would not start: %s", exc)
            else:
                log.warning("agent refused to open %s: %s", site, reply.reason)
            Clock.schedule_once(lambda _dt: self._site_opened(site, running, reply.reason, done),
                                -1)

        threading.Thread(target=work, name="web", daemon=True).start()

    def _site_opened(self, site: str, running: Any, reason: str,
                     done: Callable[[bool, str], None]) -> None:
        if running is not None:
            if self.running_app is not None:  # something else started meanwhile
                running.stop()
                done(False, "something is already open")
                return
            self.web_site = site
            self.running_app = running
            threading.Thread(target=self._wait_app, args=(running,), daemon=True).start()
            self._enforce_running_app()  # the state may have changed while the agent answered
        done(running is not None, reason)

    def _notice_blocked(self, state: ShellState) -> None:
        """A refusal the forwarder heard after the shell started: close the browser (it would
        only show a tunnel error) and show the Web app's blocked screen."""
        blocked = state.web.blocked
        at = blocked.at if blocked is not None else 0
        if self._blocked_seen is None:  # the agent's first word (a fail-safe state has no web)
            self._blocked_seen = at if state.web.available else None
            return
        if blocked is None or at <= self._blocked_seen:
            return
        self._blocked_seen = at
        if blocked.reason in web_rules.CLOSED_REASONS:
            return  # the lock or curfew screen says it, and closes the browser itself
        running = self.running_app
        if running is not None and running.app_id == web_rules.APP_ID:
            threading.Thread(target=running.stop, name="stop-browser", daemon=True).start()
        self.screen_widget("web").show_blocked(blocked.host, blocked.reason)
        self.user_screen = "web"

    # --- preferences ----------------------------------------------------------------------

    @property
    def prefs_path(self) -> Path:
        return self.data_dir / "prefs.json"

    def _save_prefs(self) -> None:
        """The tablet's own settings; while someone is signed in, theirs (they follow them)."""
        if self.people.number is not None:
            self.people.save_settings(self.language, self.text_scale, self.palette.name)
            return
        prefs_store.save(
            self.prefs_path,
            prefs_store.Prefs(
                text_scale=self.text_scale,
                theme=self.palette.name,
                language=self.language,
            ),
        )

    def set_text_scale(self, scale: float) -> None:
        if scale in prefs_store.TEXT_SCALES:
            self.text_scale = scale
            self._save_prefs()

    def set_theme(self, name: str) -> None:
        if name in PALETTES:
            self.palette = PALETTES[name]
            self._save_prefs()

    def set_language(self, language: str) -> None:
        if language not in LANGUAGES:
            return
        self.language = language
        self._lessons = None  # reloaded in the new language (progress is kept by lesson id)
        tr.switch(language)
        self._save_prefs()
        self._refresh()

    def show_language(self, language: str) -> None:
        """Show `language` without making it the tablet's own (a signed-in person's)."""
        if language in LANGUAGES and language != self.language:
            self.language = language
            self._lessons = None
            tr.switch(language)

    def load_prefs(self) -> None:
        """The tablet's own settings again (nobody signed in)."""
        self._lessons = None
        self._load_prefs()

    def _load_prefs(self) -> None:
        p = prefs_store.load(self.prefs_path)
        self.palette = PALETTES[p.theme]
        self.text_scale = p.text_scale
        self.language = p.language
        tr.switch(p.language)

    # --- screenshots and frame timing -----------------------------------------------------

    def _request_screenshot(self, name: str) -> None:
        self._shot_pending = name

    def _on_flip(self, *_args: Any) -> None:
        if not self._first_frame_done:
            self._first_frame_done = True
            write_first_frame_time()
            Clock.schedule_once(self._boot, 0)
        self.frames_after_state += 1
        if self.frames_after_state == 1:
            self.last_state_frame_monotonic = time.monotonic()
        if self._shot_pending is None or self.screenshots is None or self.root is None:
            return
        name, self._shot_pending = self._shot_pending, None
        self._shot_count += 1
        self.screenshots.mkdir(parents=True, exist_ok=True)
        self.root.export_to_png(str(self.screenshots / f"{self._shot_count:04d}-{name}.png"))

    def save_screenshot(self, path: Path) -> Path:
        """Render the whole shell as it is now into `path` (tests, docs)."""
        assert self.root is not None
        path.parent.mkdir(parents=True, exist_ok=True)
        self.root.export_to_png(str(path))
        return path


def write_first_frame_time() -> None:
    target = os.environ.get(FIRST_FRAME_FILE_ENV)
    if target:
        Path(target).write_text(f"{time.time():.6f}\n")


class _ShowErrorScreen(ExceptionHandler):
    """Any exception in the UI loop: log the trace, show the calm error screen, keep running."""

    def __init__(self, app: ShellApp) -> None:
        super().__init__()
        self.app = app

    def handle_exception(self, inst: BaseException) -> int:
        if isinstance(inst, KeyboardInterrupt | SystemExit):
            return int(ExceptionManager.RAISE)
        log.error("shell error; showing the error screen", exc_info=inst)
        try:
            self.app.error_text = ""
            self.app.go("error")
        except Exception:  # the error screen itself failed: stay alive, stay put
            log.exception("could not show the error screen")
        return int(ExceptionManager.PASS)
