"""The screen an un-enrolled tablet shows: "ask IT to enrol this tablet", and nothing else.

Run by cellbridge-enrol-screen.service (`python3 -m device.enrol_screen`) only while the tablet has
no enrolment bundle; the agent and the shell start instead once `cellbridge provision enrol` has
written one. It needs no agent, no network and no data: it draws one message and swallows every key.
"""

from __future__ import annotations

from typing import Any

from device.kiosk import swallows

MESSAGE = "This tablet is not set up yet.\n\nPlease ask IT to enrol this tablet."
BACKGROUND = (0.10, 0.18, 0.32, 1.0)


def main() -> None:
    from kivy.app import App
    from kivy.core.window import Window
    from kivy.uix.label import Label

    class EnrolScreen(App):  # type: ignore[misc]
        title = "Cellbridge"

        def build(self) -> Any:
            Window.clearcolor = BACKGROUND
            Window.fullscreen = "auto"
            Window.bind(on_request_close=lambda *_: True)
            Window.bind(on_keyboard=lambda _w, key, _sc, _cp, mods: swallows(key, mods))
            return Label(text=MESSAGE, font_size="32sp", halign="center", valign="middle")

    EnrolScreen().run()


if __name__ == "__main__":
    main()
