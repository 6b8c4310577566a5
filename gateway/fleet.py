"""The wing's tablets as the gateway knows them: who is registered, what each last reported, its
last status, and which tablets a staff selector names.

What tablets report is kept in memory at once and written to the store in batches (one
transaction, one fsync, per batch): a wing reporting at once must not cost one fsync a message.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from gateway.store import DiskFull, Store, Tablet, TabletStatus
from gateway.store_thread import StoreThread
from wire.documents import ReportedState, Status

log = logging.getLogger(__name__)

FLUSH_GATHER_S = 0.05
DISK_FULL_RETRY_S = 5.0


class TargetError(Exception):
    """A staff request names something that is not there (unknown tablet, empty cell)."""


class InputError(Exception):
    """A staff request that cannot be carried out as given (empty reason, no target)."""


@dataclass(frozen=True, slots=True)
class Selector:
    """Exactly one of: a list of tablets, a cell, a landing, or the whole wing."""

    devices: tuple[str, ...] = ()
    cell: str | None = None
    landing: str | None = None
    wing: bool = False

    def describe(self, wing_id: str) -> str:
        if self.wing:
            return f"wing:{wing_id}"
        if self.cell is not None:
            return f"cell:{self.cell}"
        if self.landing is not None:
            return f"landing:{self.landing}"
        shown = ",".join(self.devices[:20])
        more = len(self.devices) - 20
        return f"devices:{shown}" + (f" (+{more})" if more > 0 else "")


class Fleet:
    def __init__(self, store: Store, io: StoreThread) -> None:
        self._store = store
        self._io = io
        self.tablets: dict[str, Tablet] = {t.id: t for t in store.tablets()}
        self.reported: dict[str, ReportedState] = store.reported()
        self.statuses: dict[str, TabletStatus] = store.statuses()
        self._dirty_reported: dict[str, tuple[ReportedState, int]] = {}
        self._dirty_status: dict[str, tuple[Status, int]] = {}
        self._dirty = asyncio.Event()

    # -- what tablets say -----------------------------------------------------------------

    def touch(self, device: str, now: int) -> None:
        """The tablet was heard from now."""
        current = self.statuses.get(device)
        if current is not None:
            self.statuses[device] = TabletStatus(current.state, current.boot_id, now)

    def observe_report(self, report: ReportedState, retained: bool, now: int) -> None:
        self.reported[report.device] = report
        self._dirty_reported[report.device] = (report, now)
        if not retained:  # a retained copy replayed to us says nothing about the tablet now
            self.touch(report.device, now)
        self._dirty.set()

    def observe_status(self, device: str, status: Status, retained: bool, now: int) -> None:
        known = self.statuses.get(device)
        seen = now
        if retained and known is not None and (known.state, known.boot_id) == (
            status.state, status.boot_id
        ):
            seen = known.last_seen  # the same status replayed: the tablet was not seen now
        self.statuses[device] = TabletStatus(status.state, status.boot_id, seen)
        self._dirty_status[device] = (status, seen)
        self._dirty.set()

    def _take_batch(self) -> tuple[list[tuple[ReportedState, int]],
                                   list[tuple[str, Status, int]]]:
        self._dirty.clear()
        reported, self._dirty_reported = self._dirty_reported, {}
        statuses, self._dirty_status = self._dirty_status, {}
        return list(reported.values()), [(d, s, seen) for d, (s, seen) in statuses.items()]

    async def run(self) -> None:
        """Write what tablets reported, a batch at a time."""
        while True:
            await self._dirty.wait()
            await asyncio.sleep(FLUSH_GATHER_S)
            try:
                await self.write()
            except DiskFull as exc:  # kept in memory and written again: never a crash
                log.error("cannot record what tablets reported: %s", exc)
                await asyncio.sleep(DISK_FULL_RETRY_S)

    async def write(self) -> None:
        """Write what is not written yet, on the store's thread (after any batch before it)."""
        reported, statuses = self._take_batch()
        if reported or statuses:
            try:
                await self._io(self._store.put_observations, reported, statuses)
            except DiskFull:
                for report, received in reported:
                    self._dirty_reported.setdefault(report.device, (report, received))
                for device, status, seen in statuses:
                    self._dirty_status.setdefault(device, (status, seen))
                self._dirty.set()
                raise

    def flush(self) -> None:
        """Write what is not written yet, now (on the way out: the store's thread is done)."""
        reported, statuses = self._take_batch()
        if reported or statuses:
            self._store.put_observations(reported, statuses)

    # -- what the gateway knows ------------------------------------------------------------

    def reported_desired(self, device: str) -> int:
        report = self.reported.get(device)
        return report.desired_version if report else 0

    def reported_lockdowns(self) -> list[int]:
        return [r.lockdown_version for d, r in self.reported.items() if d in self.tablets]

    def resolve(self, selector: Selector) -> list[str]:
        """The tablets a selector names; TargetError if it names none or an unknown one."""
        if selector.wing:
            return sorted(self.tablets)
        if selector.cell is not None:
            found = sorted(t.id for t in self.tablets.values() if t.cell == selector.cell)
            if not found:
                raise TargetError(f"no tablets in cell {selector.cell!r}")
            return found
        if selector.landing is not None:
            found = sorted(t.id for t in self.tablets.values() if t.landing == selector.landing)
            if not found:
                raise TargetError(f"no tablets on landing {selector.landing!r}")
            return found
        if not selector.devices:
            raise InputError("name the tablets to lock: devices, cell, landing or wing")
        unknown = [d for d in selector.devices if d not in self.tablets]
        if unknown:
            raise TargetError("unknown tablet" + ("s " if len(unknown) > 1 else " ")
                              + ", ".join(unknown))
        return sorted(set(selector.devices))
