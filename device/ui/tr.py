"""Translation that .kv rules can bind to: `text: tr._("Home")` re-evaluates on a language switch.

Kivy's builder binds to the `_` attribute of `tr`; `switch` calls every bound rule again (the
pattern of Kivy's own gettext example).
"""

from __future__ import annotations

import gettext
from typing import Any

from kivy.event import Observable

from device.i18n import catalogue


class Translator(Observable):
    def __init__(self) -> None:
        super().__init__()
        self.language = "en"
        self.catalogue: gettext.NullTranslations = catalogue("en")
        self._observers: list[tuple[Any, Any, Any]] = []

    def _(self, text: str) -> str:
        return self.catalogue.gettext(text)

    def switch(self, language: str) -> None:
        self.language = language
        self.catalogue = catalogue(language)
        alive = []
        for observer in self._observers:
            func, args, _kwargs = observer
            try:
                func(args, None, None)
            except ReferenceError:  # the widget that bound it is gone: forget it
                continue
            alive.append(observer)
        self._observers = alive

    def fbind(self, name: str, func: Any, *largs: Any, **kwargs: Any) -> Any:
        if name == "_":
            # the builder binds with one positional: its (element, key, value, rule, idmap)
            self._observers.append((func, largs[0] if len(largs) == 1 else largs, kwargs))
            return len(self._observers)
        return super().fbind(name, func, *largs, **kwargs)

    def funbind(self, name: str, func: Any, *largs: Any, **kwargs: Any) -> Any:
        if name == "_":
            args = largs[0] if len(largs) == 1 else largs
            self._observers = [o for o in self._observers if not (o[0] is func and o[1] is args)]
            return None
        return super().funbind(name, func, *largs, **kwargs)

    def unbind_uid(self, name: str, uid: int) -> None:
        if name != "_":
            super().unbind_uid(name, uid)


tr = Translator()
