"""The update state machine: states, events, every transition in one table, and what
the engine does in each state in another.

Pure: no I/O. The engine persists the state after every transition and dispatches on `RESUME`:
on every pass, and when it starts again after a restart or a power cut. Anything not in
`TRANSITIONS` is a bug the engine refuses (it never guesses a next state).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class State(StrEnum):
    IDLE = "idle"
    DOWNLOADING = "downloading"
    VERIFIED = "verified"
    INSTALLING = "installing"
    INSTALLED = "installed"
    REBOOTING = "rebooting"
    TRIAL_BOOT = "trial_boot"
    COMMITTED = "committed"
    ROLLED_BACK = "rolled_back"
    FAILED = "failed"
    """Refused or failed before the switch: the running slot and the bootloader are untouched."""


class Event(StrEnum):
    ACCEPTED = "accepted"  # TUF and the release checks accept a new target
    DOWNLOADED = "downloaded"  # length and hashes match the target
    LOST = "lost"  # after a restart the downloaded file no longer matches: download it again
    INSTALL = "install"  # start writing the inactive slot
    INSTALL_DONE = "install_done"  # slot written, bootloader set to try it once
    REBOOT = "reboot"  # the staff window is open: switch
    BOOTED_NEW = "booted_new"  # running the new slot on a trial boot
    BOOTED_OLD = "booted_old"  # the bootloader is back on the old slot
    HEALTHY = "healthy"  # health check passed: mark-good
    UNHEALTHY = "unhealthy"  # health check failed: mark-bad, reboot to the old slot
    REFUSED = "refused"  # a check failed before the switch
    ABORT = "abort"  # the loop guard tripped: give up (before the switch) or roll back


S, E = State, Event


class Action(StrEnum):
    """What the engine does in a state (the same after a restart: each step is idempotent)."""

    START = "start"
    """Settled: start the pending target, if there is one and it is not the one handled."""
    DOWNLOAD = "download"
    """Re-hash the partial file and resume with a Range request (a whole kept bundle is
    re-verified; a refused download is cleaned up)."""
    INSTALL = "install"
    """Re-verify the kept bundle unless this process downloaded it (lost or damaged: download
    again), then write the inactive slot (a half-written one is marked bad)."""
    SWITCH = "switch"
    """Wait for the staff window, then activate the new slot and reboot."""
    VERIFY_BOOT = "verify_boot"
    """After the reboot, which slot booted: the new one, a trial; the old one, rolled back; the
    same boot still, activate and reboot again."""
    HEALTH_CHECK = "health_check"
    """On the new slot: the health check commits it or rolls it back; on the old slot: rolled
    back."""


@dataclass(frozen=True)
class Resume:
    action: Action
    guarded: bool
    """A restart here counts toward the loop guard (`EngineConfig.max_resumes`), which aborts
    the update: given up before the switch, rolled back after it."""


_AT_REST = Resume(Action.START, guarded=False)

RESUME: dict[State, Resume] = {
    S.IDLE: _AT_REST,
    S.DOWNLOADING: Resume(Action.DOWNLOAD, guarded=True),
    S.VERIFIED: Resume(Action.INSTALL, guarded=True),
    S.INSTALLING: Resume(Action.INSTALL, guarded=True),
    # Waiting for the window across restarts is expected, not a loop.
    S.INSTALLED: Resume(Action.SWITCH, guarded=False),
    S.REBOOTING: Resume(Action.VERIFY_BOOT, guarded=True),
    S.TRIAL_BOOT: Resume(Action.HEALTH_CHECK, guarded=True),
    S.COMMITTED: _AT_REST,
    S.ROLLED_BACK: _AT_REST,
    S.FAILED: _AT_REST,
}
"""State -> what the engine does there. A record that cannot be read has no row: `recovery`
turns it into a rollback (or, beside a slot that cannot boot, a failure)."""

SETTLED = frozenset(state for state, resume in RESUME.items() if resume.action is Action.START)
"""States with no update in flight: a new target may start from any of them. In any other, the
running slot is not confirmed at start if it is the update's new slot (on trial: that is for
the health check to decide)."""

TRANSITIONS: dict[tuple[State, Event], State] = {
    **{(s, E.ACCEPTED): S.DOWNLOADING for s in SETTLED},
    **{(s, E.REFUSED): S.FAILED for s in SETTLED},
    (S.DOWNLOADING, E.DOWNLOADED): S.VERIFIED,
    (S.DOWNLOADING, E.REFUSED): S.FAILED,
    (S.DOWNLOADING, E.ABORT): S.FAILED,
    (S.VERIFIED, E.INSTALL): S.INSTALLING,
    (S.VERIFIED, E.LOST): S.DOWNLOADING,
    (S.VERIFIED, E.REFUSED): S.FAILED,
    (S.VERIFIED, E.ABORT): S.FAILED,
    (S.INSTALLING, E.INSTALL_DONE): S.INSTALLED,
    (S.INSTALLING, E.LOST): S.DOWNLOADING,
    (S.INSTALLING, E.REFUSED): S.FAILED,
    (S.INSTALLING, E.ABORT): S.FAILED,
    (S.INSTALLED, E.REBOOT): S.REBOOTING,
    (S.INSTALLED, E.ABORT): S.FAILED,
    (S.REBOOTING, E.BOOTED_NEW): S.TRIAL_BOOT,
    (S.REBOOTING, E.BOOTED_OLD): S.ROLLED_BACK,
    (S.TRIAL_BOOT, E.BOOTED_NEW): S.TRIAL_BOOT,
    (S.TRIAL_BOOT, E.BOOTED_OLD): S.ROLLED_BACK,
    (S.TRIAL_BOOT, E.HEALTHY): S.COMMITTED,
    (S.TRIAL_BOOT, E.UNHEALTHY): S.REBOOTING,
    (S.REBOOTING, E.ABORT): S.ROLLED_BACK,
    (S.TRIAL_BOOT, E.ABORT): S.ROLLED_BACK,
}



BEFORE_SWITCH = frozenset({S.DOWNLOADING, S.VERIFIED, S.INSTALLING, S.INSTALLED})
"""In flight, but the bootloader still boots the running slot first."""


class TransitionError(Exception):
    """An event that the table does not allow in the current state."""


def next_state(state: State, event: Event) -> State:
    try:
        return TRANSITIONS[(state, event)]
    except KeyError:
        raise TransitionError(f"no transition from {state} on {event}") from None
