"""The audit trail, filtered for the console: by date range, account, tablet and kind. One SQL
query on the store's `audit` table (read under the store's lock); newest first, bounded."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.store import Store

MAX_ROWS = 5000
DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class AuditFilter:
    start: dt.date | None = None
    end: dt.date | None = None
    """Inclusive: the whole of that day (UTC)."""
    account: str = ""
    """`staff:<name>`, or a bare name meaning `staff:<name>`."""
    tablet: str = ""
    kind: str = ""
    limit: int = 500

    def as_json(self) -> dict[str, Any]:
        return {"start": self.start.isoformat() if self.start else "",
                "end": self.end.isoformat() if self.end else "",
                "account": self.account, "tablet": self.tablet, "kind": self.kind,
                "limit": self.limit}


def _day_ms(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp() * 1000)


def query(store: Store, f: AuditFilter) -> list[dict[str, Any]]:
    """The entries `f` selects, newest first."""
    where: list[str] = []
    params: list[object] = []
    if f.start:
        where.append("at >= ?")
        params.append(_day_ms(f.start))
    if f.end:
        where.append("at < ?")
        params.append(_day_ms(f.end) + DAY_MS)
    if f.account:
        where.append("actor = ?")
        params.append(f.account if ":" in f.account else f"staff:{f.account}")
    if f.tablet:
        where.append("(target = ? OR actor = ? OR detail LIKE ? ESCAPE '\\')")
        quoted = json.dumps(f.tablet).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        params += [f"device:{f.tablet}", f"tablet:{f.tablet}", f"%{quoted}%"]
    if f.kind:
        where.append("action = ?")
        params.append(f.kind)
    sql = "SELECT seq, at, actor, action, target, detail FROM audit"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += f" ORDER BY seq DESC LIMIT {max(1, min(f.limit, MAX_ROWS))}"
    return [{"seq": r[0], "at": r[1], "actor": r[2], "action": r[3], "target": r[4],
             "detail": _detail(r[5])} for r in store.read(sql, params)]


def kinds(store: Store) -> list[str]:
    return [r[0] for r in store.read("SELECT DISTINCT action FROM audit ORDER BY action")]


def as_csv(entries: Iterable[dict[str, Any]]) -> str:
    """CSV with the text as stored; a cell a spreadsheet would run as a formula is quoted with a
    leading apostrophe (CSV injection)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["seq", "at_utc", "actor", "action", "target", "detail"])
    for e in entries:
        at = dt.datetime.fromtimestamp(e["at"] / 1000, dt.UTC).isoformat()
        detail = json.dumps(e["detail"], ensure_ascii=False, sort_keys=True)
        writer.writerow([e["seq"], at, *(_cell(str(v)) for v in
                                         (e["actor"], e["action"], e["target"], detail))])
    return out.getvalue()


def _cell(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _detail(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"unreadable": text[:200]}
    return value if isinstance(value, dict) else {"value": value}
