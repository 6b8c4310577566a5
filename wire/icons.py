"""The icon names a wing policy's app catalogue may give (`[apps.ID] icon = "..."`): the shell
draws each of them (device/ui/icons.py, checked by its tests), so a policy that names any other is
refused when it is checked, not shown as a generic tile on every tablet."""

from __future__ import annotations

ICON_NAMES: frozenset[str] = frozenset({
    "app", "back", "basket", "book", "briefcase", "cross", "envelope", "gear", "globe", "help",
    "home", "keyboard", "linked", "lock", "moon", "music", "next", "people", "phone", "puzzle",
    "scales", "screen", "sunrise", "tick", "unlinked", "update", "warning",
})
