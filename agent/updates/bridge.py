"""Between the update engine and the rest of the agent: the desired state's update target in,
progress out to the gateway (`ReportedState.update`) and to the shell (`ShellState.update`)."""

from __future__ import annotations

from dataclasses import dataclass

from agent.updates.engine import UpdateEngine
from agent.updates.slots import SlotBackend, SlotError
from agent.updates.states import State
from agent.updates.store import UpdateRecord
from wire.documents import UpdateReport, UpdateTarget
from wire.localapi import UpdateView

SHELL_MESSAGES: dict[State, str] = {
    State.IDLE: "",
    State.DOWNLOADING: "Getting an update in the background. Keep using your tablet.",
    State.VERIFIED: "Update ready. Keep using your tablet.",
    State.INSTALLING: "Preparing the update. Keep using your tablet.",
    State.INSTALLED: "Your tablet will update during the night.",
    State.REBOOTING: "Updating. Your tablet will restart. Please wait.",
    State.TRIAL_BOOT: "Finishing the update. Please wait.",
    State.COMMITTED: "",
    State.ROLLED_BACK: "",
    State.FAILED: "",
}


@dataclass
class UpdateWindow:
    """The switch window of the current update target (from the desired state)."""

    start_ms: int | None = None
    end_ms: int | None = None

    def is_open(self, now_ms: int | None) -> bool:
        if self.start_ms is None and self.end_ms is None:
            return True
        if now_ms is None:
            return False  # no trusted time: do not switch
        return (self.start_ms or 0) <= now_ms < (self.end_ms or 2**63)


def apply_desired(engine: UpdateEngine, window: UpdateWindow, update: UpdateTarget | None
                  ) -> bool:
    """Hand the desired state's update target to the engine; True if it changed anything."""
    if update is None:
        window.start_ms = window.end_ms = None
        engine.withdraw()
        return False
    window.start_ms, window.end_ms = update.window_start, update.window_end
    return engine.offer(update.target, update.version)


@dataclass(frozen=True)
class Running:
    """The slot this boot runs from and the version in it: fixed for the life of a boot (an
    install writes the other slot), so asked of the slots once, not for every report."""

    slot: str = ""
    version: str = ""


def running_of(slots: SlotBackend) -> Running | None:
    """Ask the slots which one is booted and what it holds (on a tablet two `rauc status`
    calls over D-Bus: a subprocess each, slow while RAUC is busy, so never on the event loop);
    None while they cannot say."""
    try:
        booted = slots.booted()
        return Running(slot=booted, version=slots.version(booted) or "")
    except SlotError:
        return None


def report_of(record: UpdateRecord, running: Running | None) -> UpdateReport:
    """The engine's record as the gateway sees it (`running` None: not known yet)."""
    running = running or Running()
    return UpdateReport(
        state=record.state.value,
        target=record.target or "",
        version=record.version or "",
        running=running.version[:40],
        slot=running.slot[:16],
        progress=max(0, min(100, record.progress)),
        error=record.error[:500],
    )


def view_of(record: UpdateRecord) -> UpdateView:
    """What the shell shows: plain words, no error detail (that goes to staff)."""
    return UpdateView(state=record.state.value, progress=max(0, min(100, record.progress)),
                      message=SHELL_MESSAGES[record.state])
