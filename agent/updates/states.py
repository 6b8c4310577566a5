"""The update state machine (DESIGN §4): states, events, and every transition in one table.

Pure: no I/O. The engine persists the state after every transition and, when it starts, resumes
from the persisted state as `RESUME` says. Anything not in `TRANSITIONS` is a bug the engine
refuses (it never guesses a next state).
"""

from __future__ import annotations

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

SETTLED = frozenset({S.IDLE, S.COMMITTED, S.ROLLED_BACK, S.FAILED})
"""States with no update in flight: a new target may start from any of them."""

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

RESUME: dict[State, str] = {
    S.IDLE: "nothing in flight; start a pending target if there is one",
    S.DOWNLOADING: "resume the download with a Range request after re-hashing the partial file",
    S.VERIFIED: "re-verify the downloaded file (lost or damaged: download it again), then install",
    S.INSTALLING: "the inactive slot is half-written and marked bad: verify (lost or damaged: "
                  "download again) and install again",
    S.INSTALLED: "wait for the staff window, then reboot",
    S.REBOOTING: "same boot: reboot again; new slot booted: trial boot; old slot: rolled back",
    S.TRIAL_BOOT: "new slot booted: health check again; old slot booted: rolled back",
    S.COMMITTED: "settled; start a pending target if there is one",
    S.ROLLED_BACK: "settled; start a pending target if there is one",
    S.FAILED: "settled; start a pending target if there is one",
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
