"""What staff did at the prison, whether in the console or with the `prison` CLI: one row per
event in the prison store's `console_events` (migration 4; the name is older than the CLI's
use of it), written in the same transaction as the change it records when there is one."""

from __future__ import annotations

import json

from common.staff_web.accounts import StaffEvent
from prison.store import PrisonStore


def record(store: PrisonStore, *events: StaffEvent) -> None:
    with store.backend.transaction():
        for e in events:
            store.execute(
                "INSERT INTO console_events (at, actor, action, target, detail) "
                "VALUES (?, ?, ?, ?, ?)",
                [e.at, e.actor, e.action, e.target, json.dumps(dict(e.detail), sort_keys=True)])


def newest(store: PrisonStore, limit: int = 200) -> list[StaffEvent]:
    """The newest `limit` events, newest first."""
    rows = store.execute("SELECT at, actor, action, target, detail FROM console_events "
                         "ORDER BY at DESC LIMIT ?", [limit]).fetchall()
    return [StaffEvent(r[0], r[1], r[2], r[3], json.loads(r[4])) for r in rows]
