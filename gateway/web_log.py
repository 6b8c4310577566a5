"""The per-tablet browsing record: what each tablet's browser asked for, when, how much came back,
allowed or denied and why. Read from Squid's access log (format `cellbridge`, see
`gateway.squid_conf`) into table `web_log`, kept for a configurable period.

`parse_line` is pure (one access-log line → an entry, or None for a line that is not ours);
`BrowsingRecord` keeps entries on the store's thread and follows the log file as Squid writes it.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gateway.store import Store
from gateway.store_thread import StoreThread

RETENTION_DAYS = 90
DAY_MS = 86_400_000
MAX_LINE = 4096
FOLLOW_S = 0.5


@dataclass(frozen=True, slots=True)
class LogEntry:
    device: str
    at: int
    host: str
    sni: str
    allowed: bool
    reason: str
    status: str
    bytes_in: int
    bytes_out: int
    duration_ms: int

    def as_json(self) -> dict[str, Any]:
        return {"device": self.device, "at": self.at, "host": self.host, "sni": self.sni,
                "allowed": self.allowed, "reason": self.reason, "status": self.status,
                "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                "duration_ms": self.duration_ms}


LOGFORMAT = ("%ts.%03tu %>ha{X-Cellbridge-Tablet} %note{clt_conn_tag} %rm %ru %ssl::>sni "
             "%Ss/%>Hs %<st %>st %tr %ssl::bump_mode %ea")
"""Squid's `logformat cellbridge`: time, tablet (the front's header; on the CONNECT Squid makes
after peeking, the helper's connection tag `TABLET/HOST`), method, URL (host:port for CONNECT),
SNI, Squid status/HTTP status, bytes to the tablet, bytes from it, duration (ms), bump mode, and
the helper's `log=` note (its reason)."""


def _int(text: str) -> int:
    return int(text) if text.isascii() and text.isdigit() else 0


def parse_line(line: str) -> LogEntry | None:
    """One access-log line in the `cellbridge` format → an entry; None for a line that records
    no decision (a connection closed before its request; the CONNECT handed on to peeking)."""
    fields = line.strip().split(" ")
    if len(fields) < 12 or len(line) > MAX_LINE:
        return None
    stamp, header, tag, method, url, sni, status, sent, received, took, mode = fields[:11]
    note = " ".join(fields[11:])
    if method == "-" or (status.startswith("NONE_NONE/") and mode not in ("terminate", "peek")):
        return None  # no request, or the CONNECT's own line before its spliced tunnel's
    try:
        at = int(float(stamp) * 1000)
    except ValueError:
        return None
    device = header if header != "-" else tag.partition("/")[0]
    host = url.rsplit(":", 1)[0] if method == "CONNECT" else url
    if method == "CONNECT" and tag != "-":
        host = tag.partition("/")[2] or host
    allowed = status.startswith("TCP_TUNNEL/") and mode == "splice"
    if status.startswith("NONE_NONE/") and mode == "peek":
        note = "not_tls"  # the tunnel carried no TLS ClientHello (e.g. a pipelined request)
    reason = note if note != "-" else ("" if allowed else status)
    return LogEntry(device, at, host, sni, allowed, reason, status, _int(sent), _int(received),
                    _int(took))


class BrowsingRecord:
    def __init__(self, store: Store, io: StoreThread, retention_days: int = RETENTION_DAYS
                 ) -> None:
        self._store = store
        self._io = io
        self.retention_ms = retention_days * DAY_MS
        with store.transaction() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS web_log (device TEXT NOT NULL, at INTEGER NOT NULL,"
                " host TEXT NOT NULL, sni TEXT NOT NULL, allowed INTEGER NOT NULL,"
                " reason TEXT NOT NULL, status TEXT NOT NULL, bytes_in INTEGER NOT NULL,"
                " bytes_out INTEGER NOT NULL, duration_ms INTEGER NOT NULL)")
            db.execute("CREATE INDEX IF NOT EXISTS web_log_device ON web_log (device, at)")

    def add(self, entries: list[LogEntry], now: int) -> None:
        """Keep `entries` and drop what is older than the retention period (one transaction)."""
        with self._store.transaction() as db:
            db.conn.executemany(
                "INSERT INTO web_log (device, at, host, sni, allowed, reason, status, bytes_in,"
                " bytes_out, duration_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [[e.device, e.at, e.host, e.sni, int(e.allowed), e.reason, e.status, e.bytes_in,
                  e.bytes_out, e.duration_ms] for e in entries])
            db.execute("DELETE FROM web_log WHERE at < ?", [now - self.retention_ms])

    async def keep(self, entries: list[LogEntry], now: int) -> None:
        await self._io(self.add, entries, now)

    async def listing(self, device: str | None, since: int = 0, limit: int = 1000
                      ) -> list[dict[str, Any]]:
        sql = ("SELECT device, at, host, sni, allowed, reason, status, bytes_in, bytes_out,"
               " duration_ms FROM web_log WHERE at >= ?")
        params: list[Any] = [since]
        if device is not None:
            sql += " AND device = ?"
            params.append(device)
        sql += f" ORDER BY at, rowid LIMIT {int(limit)}"
        rows = await self._io(self._store.read, sql, params)
        return [LogEntry(r[0], r[1], r[2], r[3], bool(r[4]), r[5], r[6], r[7], r[8],
                         r[9]).as_json() for r in rows]

    async def follow(self, path: Path, clock: Any) -> None:
        """Read Squid's access log as it grows (from where it ended at start-up), forever."""
        offset = path.stat().st_size if path.exists() else 0
        while True:
            await asyncio.sleep(FOLLOW_S)
            offset = await self.read_new(path, offset, clock())

    async def read_new(self, path: Path, offset: int, now: int) -> int:
        """Keep the complete lines written after `offset`; the new offset."""
        with contextlib.suppress(FileNotFoundError):
            size = path.stat().st_size
            if size < offset:  # rotated
                offset = 0
            if size == offset:
                return offset
            with path.open("rb") as handle:
                handle.seek(offset)
                chunk = handle.read(size - offset)
            complete = chunk[: chunk.rfind(b"\n") + 1]
            entries = [e for line in complete.decode("utf-8", "replace").splitlines()
                       if (e := parse_line(line)) is not None]
            if entries:
                await self.keep(entries, now)
            return offset + len(complete)
        return offset
