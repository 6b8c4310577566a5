"""The update engine inside the agent's event loop.

The engine is synchronous (downloads, fsyncs, `rauc`): it runs in a worker thread, one `run()` at
a time, woken when the desired state changes, retried with jittered exponential backoff
(tenacity) after transient failures, and re-checked while it waits for the staff window. Every
change of its record reaches the agent through `on_change` on the event loop (the agent then
refreshes the shell and publishes `reported`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable

from tenacity import AsyncRetrying, retry_if_result, wait_random_exponential

from agent.updates.bridge import (
    Running,
    UpdateWindow,
    apply_desired,
    report_of,
    running_of,
    view_of,
)
from agent.updates.config import UpdatesConfig, build_engine
from agent.updates.engine import Outcome, UpdateEngine
from agent.updates.slots import SlotError
from agent.updates.states import State
from agent.updates.store import UpdateRecord
from agent.updates.tufclient import TrustedNow
from wire.documents import DesiredState, UpdateReport, UpdateTarget
from wire.localapi import UpdateView

log = logging.getLogger(__name__)

WINDOW_POLL_S = 60.0
RETRY_MAX_S = 600.0


class HealthCheck:
    """After a switch: healthy once the agent is connected to its gateway (and, where a shell
    runs, the shell watches the agent's socket) within `timeout_s`."""

    def __init__(self, connected: Callable[[], bool], shell_alive: Callable[[], bool],
                 timeout_s: float = 180.0) -> None:
        self.connected = connected
        self.shell_alive = shell_alive
        self.timeout_s = timeout_s

    def __call__(self) -> bool:
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self.connected() and self.shell_alive():
                return True
            time.sleep(0.5)
        return False


class UpdateService:
    def __init__(
        self,
        config: UpdatesConfig,
        now: TrustedNow,
        health: Callable[[], bool],
        on_change: Callable[[], None],
        engine: UpdateEngine | None = None,
    ) -> None:
        self.window = UpdateWindow()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._on_change = on_change
        self._wake = asyncio.Event()
        self._record_lock = threading.Lock()

        def window_open() -> bool:
            current = now()
            return self.window.is_open(int(current.timestamp() * 1000) if current else None)

        self.engine = engine or build_engine(config, now=now, health=health,
                                             window_open=window_open, report=self._changed)
        self._desired: UpdateTarget | None = None
        self._unapplied = False
        """The desired update target is not noted by the engine yet: try again before a run."""
        self._record = self._read_record()
        self._running: Running | None = None
        """The booted slot and its version, learnt by the engine's first run in its thread."""

    # -- what the agent asks --------------------------------------------------------------
    def report(self) -> UpdateReport:
        """Cheap enough for every report the agent sends (a lock's confirmation among them):
        no subprocess, no I/O."""
        with self._record_lock:
            record, running = self._record, self._running
        return report_of(record, running)

    def view(self) -> UpdateView:
        with self._record_lock:
            return view_of(self._record)

    def desired_changed(self, desired: DesiredState | None) -> None:
        """The agent applied a new desired state (or loaded one at start)."""
        self._desired = desired.update if desired else None
        self._unapplied = True
        self._apply_desired()
        self._wake.set()

    def _apply_desired(self) -> None:
        try:
            apply_desired(self.engine, self.window, self._desired)
        except SlotError as exc:  # the record is unreadable and the slots cannot say what next
            log.error("update target not noted yet: %s", exc)
            return
        self._unapplied = False

    def _read_record(self) -> UpdateRecord:
        """The engine's record; while it is unreadable and the slots cannot be asked what to
        resume as, a failed one that says so (reported only: nothing is decided on it)."""
        try:
            return self.engine.state()
        except SlotError as exc:
            return UpdateRecord(state=State.FAILED,
                                error=f"update record unreadable, slots unavailable: {exc}")

    # -- running --------------------------------------------------------------------------
    async def run(self) -> None:
        """Until cancelled: run the engine whenever there may be something to do; after a
        transient failure again with jittered exponential backoff (tenacity), a wake (a new
        desired state) cutting the wait short."""
        self._loop = asyncio.get_running_loop()
        while True:
            retrying = AsyncRetrying(
                retry=retry_if_result(lambda outcome: outcome == Outcome.RETRY),
                wait=wait_random_exponential(multiplier=5, exp_base=1.5, max=RETRY_MAX_S),
                sleep=self._sleep_unless_woken,
            )
            outcome: Outcome = await retrying(self._attempt)
            if outcome == Outcome.REBOOT:
                log.info("update installed: reboot requested")
            await self._sleep_unless_woken(WINDOW_POLL_S if outcome == Outcome.WAITING else None)

    async def _attempt(self) -> Outcome:
        self._wake.clear()
        failure = ""
        try:
            outcome = await asyncio.to_thread(self._run_engine)
        except SlotError as exc:  # rauc, the boot id or the reboot failed: retried, and said
            log.error("update engine: %s", exc)
            outcome, failure = Outcome.RETRY, f"will retry: {exc}"
        except Exception:  # a bug must not stop updates for good, nor the agent
            log.exception("update engine failed")
            outcome, failure = Outcome.RETRY, "will retry: the update engine failed (agent log)"
        record = self._read_record()
        if failure and not record.error:
            # The record is as the engine left it; staff see why it does not move on.
            record = record.model_copy(update={"error": failure})
        self._changed(record)
        return outcome

    def _run_engine(self) -> Outcome:
        if self._running is None:
            running = running_of(self.engine.slots)
            with self._record_lock:
                self._running = running
        if self._unapplied:
            self._apply_desired()
        return self.engine.run()

    async def _sleep_unless_woken(self, seconds: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)

    def _changed(self, record: UpdateRecord) -> None:
        with self._record_lock:
            self._record = record.model_copy()
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._on_change)
