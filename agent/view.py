"""What the agent tells the shell and the gateway, derived from what it has applied. Pure."""

from __future__ import annotations

import logging

from agent.lock import combine
from wire.documents import DesiredState, ReportedState, WingLockdown
from wire.localapi import ShellState, failsafe_state

log = logging.getLogger(__name__)

DEFAULT_PROFILE = "standard"
NOBODY = ""
"""The profile of nobody: on a tablet of prisoner accounts with nobody signed in, no profile's
apps — only the always-allowed ones (the Listener line, legal letters), as in curfew."""


def profile_of(desired: DesiredState | None, person: str | None) -> str:
    """The profile the tablet's apps follow now: the tablet's own (`desired.profile`); on a
    tablet whose desired state names occupants, the signed-in person's (`person`, a prison
    number), and NOBODY with nobody (fully) signed in. The shell's tiles and the launch check
    both ask this, so what is shown is what may start."""
    if desired is None:
        return DEFAULT_PROFILE
    if not desired.occupants.people:
        return desired.profile
    occupant = next((p for p in desired.occupants.people if p.number == person), None)
    return occupant.profile if person is not None and occupant is not None else NOBODY


def shell_state(
    device: str,
    desired: DesiredState | None,
    lockdown: WingLockdown | None,
    *,
    connected: bool,
) -> ShellState:
    """The shell's state; any error computing it yields the locked fail-safe, never a crash."""
    try:
        lock = combine(desired, lockdown)
        return ShellState(
            device=device,
            locked=lock.locked,
            lock=lock,
            connected=connected,
            profile=desired.profile if desired is not None else DEFAULT_PROFILE,
        )
    except Exception as exc:  # fail closed whatever went wrong
        log.exception("%s: cannot compute state; failing closed", device)
        return failsafe_state(device, f"internal error: {type(exc).__name__}")


def reported_state(
    state: ShellState,
    desired: DesiredState | None,
    lockdown: WingLockdown | None,
    *,
    at: int,
    boot_id: str,
    agent_version: str,
) -> ReportedState:
    return ReportedState(
        device=state.device,
        desired_version=desired.version if desired is not None else 0,
        lockdown_version=lockdown.version if lockdown is not None else 0,
        lock=state.lock,
        profile=state.profile,
        at=at,
        boot_id=boot_id,
        agent_version=agent_version,
    )
