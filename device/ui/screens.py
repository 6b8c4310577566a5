"""Screen classes: each one's look is its own .kv file; here only what the .kv cannot say simply
(building tile lists from the App's view state)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kivy.app import App
from kivy.uix.screenmanager import NoTransition, Screen, ScreenManager
from kivy.uix.scrollview import ScrollView

from device.i18n import N_
from device.ui.tr import tr
from device.ui.widgets import Surface, Tile

if TYPE_CHECKING:
    from wire.localapi import AppTile

BUILTIN_APPS: tuple[tuple[str, str, str], ...] = (
    ("lessons", N_("Digital skills"), "screen"),
    ("requests", N_("Requests"), "envelope"),
    ("web", N_("Web"), "globe"),
    ("settings", N_("Help and settings"), "help"),
)
"""(screen, label msgid, icon) of the shell's own apps, always on the home screen (Web only on a
tablet whose agent runs the browser's forwarder)."""


def _app_tile(app_tile: AppTile) -> Tile:
    tile = Tile(icon=app_tile.icon or "app", text=app_tile.name, action=app_tile.id)
    tile.bind(on_release=lambda t: App.get_running_app().launch(t.action))
    return tile


class HomeScreen(Screen):
    def on_kv_post(self, base_widget: Any) -> None:
        self.refresh(App.get_running_app().home_apps)

    def refresh(self, apps: list[AppTile]) -> None:
        box = self.ids.tiles
        box.clear_widgets()
        state = App.get_running_app().shell_state
        web = state is not None and state.web.available
        for screen, label, icon in BUILTIN_APPS:
            if screen == "web" and not web:
                continue
            tile = Tile(icon=icon, text=tr._(label), action=screen)
            tile.bind(on_release=lambda t: App.get_running_app().go(t.action))
            box.add_widget(tile)
        for app_tile in apps:
            box.add_widget(_app_tile(app_tile))


class _RestrictedScreen(Screen):
    """Lock and curfew: nothing to tap but the always-allowed apps."""

    def on_kv_post(self, base_widget: Any) -> None:
        self.refresh(App.get_running_app().restricted_apps)

    def refresh(self, apps: list[AppTile]) -> None:
        box = self.ids.tiles
        box.clear_widgets()
        for app_tile in apps:
            box.add_widget(_app_tile(app_tile))


class LockScreen(_RestrictedScreen):
    pass


class CurfewScreen(_RestrictedScreen):
    pass


class UpdatingScreen(Screen):
    pass


class ErrorScreen(Screen):
    pass


class ShellRoot(Surface):
    """Status bar, banner, and the screen manager holding every screen."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        sm: ScreenManager = self.ids.sm
        sm.transition = NoTransition()
        self._fingers: dict[Any, Any] = {}
        self._ignored: set[Any] = set()

    # Multi-touch gestures do nothing: a second finger cancels the first finger's press, and no
    # touch counts until every finger has lifted.
    def on_touch_down(self, touch: Any) -> bool:
        if self._fingers:
            self._ignored.add(touch.uid)
            for finger in self._fingers.values():
                _cancel_press(finger)
                self._ignored.add(finger.uid)
            return True
        self._fingers[touch.uid] = touch
        return bool(super().on_touch_down(touch))

    def on_touch_move(self, touch: Any) -> bool:
        if touch.uid in self._ignored:
            return True
        return bool(super().on_touch_move(touch))

    def on_touch_up(self, touch: Any) -> bool:
        self._fingers.pop(touch.uid, None)
        if touch.uid in self._ignored:
            self._ignored.discard(touch.uid)
            return True
        return bool(super().on_touch_up(touch))


def _cancel_press(touch: Any) -> None:
    """Release whatever the touch is holding without firing it."""
    for ref in list(touch.grab_list):
        widget = ref()
        if widget is None:
            continue
        touch.ungrab(widget)
        if isinstance(widget, ScrollView):
            # A ScrollView hands a still touch to its children only after scroll_timeout; forget
            # the touch so that hand-over never happens (Kivy has no public cancel for it).
            touch.ud.pop(widget._get_uid(), None)
            widget._touch = None
        if hasattr(widget, "state"):
            widget.state = "normal"
