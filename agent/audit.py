"""The tablet's audit trail: every document applied or refused, every launch refused, every clock
jump, failed update or held document, written to the store off the event loop.

A write that fails means the store can no longer be trusted: `on_fail` (the agent fails closed);
except for a full disk, which passes: the rows are kept in memory (up to `UNWRITTEN_MAX`, the
rest counted) and written with the next row that finds space.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from enum import StrEnum

from agent.store import AuditRow, DiskFull, Store, StoreError
from common.throttle import AuditThrottle

log = logging.getLogger(__name__)

REFUSAL_WINDOW_MS = 60_000
REFUSAL_BURST = 5
"""Refusals of one kind (topic and reason) audited one by one per window; the rest are counted
into the next row of that kind, or into a row of their own when the agent stops."""

UNWRITTEN_MAX = 200
"""Audit rows kept in memory while the disk is full; beyond this they are only counted."""


class AuditEvent(StrEnum):
    APPLIED = "applied"
    REFUSED = "refused"
    HELD = "held"
    """A document only the untrusted system clock called expired: judged again at trusted time."""
    CLOCK_JUMP = "clock_jump"
    DISK_FULL = "disk_full"
    """A state write found no space: what was kept in memory, deferred, or written late."""


class Background:
    """Short fire-and-forget tasks (a publish, an audit row): a failure is logged, never lost
    silently; `close` cancels what is left. Long-running loops belong in the agent's TaskGroup."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coroutine: Awaitable[None]) -> None:
        async def run() -> None:
            try:
                await coroutine
            except Exception:
                log.exception("%s: background task failed", self._name)

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


class AuditTrail:
    """Audit rows for one agent; `store` is set once the store is open (None: log only)."""

    def __init__(self, device: str, now_ms: Callable[[], int],
                 on_fail: Callable[[str], None]) -> None:
        self.store: Store | None = None
        self._device = device
        self._now_ms = now_ms
        self._on_fail = on_fail
        self._soon = Background(f"{device}: audit")
        self._writing = asyncio.Lock()
        self._unwritten: list[AuditRow] = []
        self._uncounted = 0
        self._refusals = AuditThrottle(REFUSAL_WINDOW_MS, max_keys=1000, burst=REFUSAL_BURST)

    @property
    def unwritten(self) -> int:
        """Rows waiting for space on the disk."""
        return len(self._unwritten) + self._uncounted

    async def record(self, event: str, topic: str, reason: str, detail: str) -> None:
        await self.write(AuditRow(self._now_ms(), event, topic, reason, detail))

    async def write(self, row: AuditRow | None = None) -> None:
        """Write `row` after any rows kept while the disk was full (None: just those)."""
        store = self.store
        if store is None:
            return
        async with self._writing:
            rows = list(self._unwritten)
            if self._uncounted:
                rows.append(AuditRow(self._now_ms(), AuditEvent.DISK_FULL, "", "unwritten",
                                     f"{self._uncounted} more audit rows were lost"))
            if row is not None:
                rows.append(row)
            if not rows:
                return
            try:
                await asyncio.to_thread(store.audit, *rows)
            except DiskFull:
                if row is not None:
                    self._keep(row)
                return
            except StoreError as exc:
                self._on_fail(f"cannot write audit: {exc}")
                return
            self._unwritten, self._uncounted = [], 0

    def _keep(self, row: AuditRow) -> None:
        if len(self._unwritten) < UNWRITTEN_MAX:
            self._unwritten.append(row)
        else:
            self._uncounted += 1

    async def warn(self, event: str, topic: str, reason: str, detail: str) -> None:
        """Log it as a warning, and record it; a refusal only if its kind is not flooding."""
        if event == AuditEvent.REFUSED:
            repeats = self._refusals.admit((topic, reason), self._now_ms())
            if repeats is None:
                return
            if repeats:
                detail = f"{detail} [+{repeats} like it since the last row]"
        log.warning("%s: %s %s: %s: %s", self._device, event, topic, reason, detail)
        await self.record(event, topic, reason, detail)

    def record_soon(self, event: str, topic: str, reason: str, detail: str) -> None:
        """`warn` from a synchronous callback (on the event loop)."""
        self._soon.spawn(self.warn(event, topic, reason, detail))

    def applied_row(self, topic: str, version: int) -> AuditRow:
        return AuditRow(self._now_ms(), AuditEvent.APPLIED, topic, "", f"version {version}")

    async def close(self) -> None:
        """Cancel what is left; record the refusals counted and not yet recorded."""
        await self._soon.close()
        for key, repeats in self._refusals.drain().items():
            topic, reason = key if isinstance(key, tuple) else ("", str(key))
            await self.record(AuditEvent.REFUSED, topic, reason,
                              f"[+{repeats} like it since the last row]")
