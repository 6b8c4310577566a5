"""What the agent tells the shell and the gateway, derived from what it has applied. Pure."""

from __future__ import annotations

import logging

from agent.lock import combine
from wire.documents import DesiredState, ReportedState, WingLockdown
from wire.localapi import ShellState, failsafe_state

log = logging.getLogger(__name__)

DEFAULT_PROFILE = "standard"


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
