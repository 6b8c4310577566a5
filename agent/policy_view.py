"""What the shell is shown of the policy's decision: the curfew view and the app tiles. Pure."""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from wire.localapi import AppTile, CurfewView
from wire.policy import WingPolicy
from wire.schedule import Decision, State

CurfewState = Literal["open", "warning", "curfew", "unknown"]
_CURFEW_STATES: dict[State, CurfewState] = {
    "open": "open",
    "warning": "warning",
    "curfew": "curfew",
    "lockdown": "curfew",
    "unknown": "unknown",
}


def curfew_view(decision: Decision | None) -> CurfewView:
    """`None` (no policy stored yet) is shown as unknown: the agent enforces curfew rules."""
    if decision is None:
        return CurfewView(state="unknown", label="no policy yet")
    return CurfewView(
        state=_CURFEW_STATES[decision.state],
        starts_at=decision.starts_at,
        ends_at=decision.ends_at,
        minutes_left=decision.minutes_left,
        label=decision.label,
    )


def app_tiles(policy: WingPolicy, decision: Decision, now_ms: int | None) -> tuple[AppTile, ...]:
    """The always-allowed apps and the profile's apps, each saying whether it may start now and,
    within the warning period, when it will be closed."""
    warn_ms = max(policy.warn_minutes) * 60_000
    tiles = []
    for app in decision.apps:
        if not app.listed:
            continue
        entry = policy.apps[app.app]
        closes_at = None
        if app.allowed and app.until is not None and now_ms is not None:
            closes_at = app.until if app.until - now_ms <= warn_ms else None
        tiles.append(
            AppTile(
                id=app.app,
                name=entry.name,
                icon=entry.icon,
                names=dict(entry.names),
                allowed_now=app.allowed,
                always_allowed=app.always_allowed,
                closes_at=closes_at,
            )
        )
    return tuple(tiles)


def without_builds(tiles: tuple[AppTile, ...], missing: Collection[str]) -> tuple[AppTile, ...]:
    """Tiles of apps whose pinned build is not installed yet (being fetched, or refused) say
    they cannot start now: the launch check would refuse them, so the shell must not offer
    them."""
    return tuple(
        tile.model_copy(update={"allowed_now": False, "closes_at": None})
        if tile.id in missing else tile
        for tile in tiles
    )
