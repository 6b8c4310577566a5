"""The wing map's data: landings as rows, cells as tiles, each tablet's state at a glance. Pure:
it takes the gateway's tablet views and what tablets reported, and returns a plain dict."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from wire.documents import ReportedState

STATES = ("locked", "unlocked", "offline", "attention", "curfew", "updating")


def tablet_state(view: Mapping[str, Any], report: ReportedState | None) -> dict[str, Any]:
    lock = view.get("lock") or {}
    update = report.update if report else None
    updating = update is not None and update.state not in ("idle", "done", "failed")
    failed = update is not None and update.state == "failed"
    attention = []
    if view["online"] is None:  # the gateway has no broker session: nobody is known online
        attention.append("online unknown")
    elif not view["online"]:
        attention.append("offline")
    if not view["in_sync"]:
        attention.append("not yet applied")
    if failed:
        attention.append("update failed")
    return {
        "id": view["id"], "cell": view["cell"], "landing": view["landing"],
        "online": view["online"], "last_seen": view["last_seen"],
        "locked": view["locked"], "lock_by": lock.get("by") if lock else None,
        "lock_reason": lock.get("reason") if lock else None,
        "lock_source": lock.get("source") if lock else None,
        "in_sync": view["in_sync"],
        "curfew": report.curfew if report else "unknown",
        "updating": updating,
        "update_state": update.state if update else None,
        "attention": attention,
    }


def matches(tablet: Mapping[str, Any], state: str) -> bool:
    return {
        "locked": tablet["locked"] is True,
        "unlocked": tablet["locked"] is False,
        "offline": tablet["online"] is False,
        "attention": bool(tablet["attention"]),
        "curfew": tablet["curfew"] == "curfew",
        "updating": tablet["updating"],
    }.get(state, True)


def wing_map(wing: str, views: Iterable[Mapping[str, Any]],
             reported: Mapping[str, ReportedState], *, landing: str | None = None,
             state: str | None = None) -> dict[str, Any]:
    """The map, filtered to one landing and/or tablets in one state; counts are the wing's."""
    tablets = [tablet_state(v, reported.get(v["id"])) for v in views]
    counts = {s: sum(1 for t in tablets if matches(t, s)) for s in STATES}
    counts["total"] = len(tablets)
    landings: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for tablet in sorted(tablets, key=lambda t: (t["landing"], t["cell"], t["id"])):
        if landing and tablet["landing"] != landing:
            continue
        if state and not matches(tablet, state):
            continue
        landings.setdefault(tablet["landing"], {}).setdefault(tablet["cell"], []).append(tablet)
    all_landings = sorted({t["landing"] for t in tablets})
    all_cells = sorted({t["cell"] for t in tablets})
    return {
        "wing": wing, "counts": counts,
        "presence_unknown": any(t["online"] is None for t in tablets),
        "filters": {"landing": landing or "", "state": state or ""},
        "landing_names": all_landings, "cell_names": all_cells, "states": list(STATES),
        "landings": [
            {"name": name, "cells": [{"name": cell, "tablets": members}
                                     for cell, members in cells.items()]}
            for name, cells in landings.items()
        ],
    }
