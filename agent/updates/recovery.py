"""What the engine resumes as when its record cannot be read (unreadable, corrupt, or written by a
newer agent): the one state `RESUME` has no row for.

Unknown progress never commits a slot. The record cannot say whether the running slot is an
update on trial, and RAUC's boot counter cannot either (a committed slot and one on trial look
alike until mark-good), so the slots decide: a trial always has a slot to fall back to, the good
one it was installed from. While the other slot is good, the running one may be on trial: it is
rolled back like a trial that failed its health check (marked bad, reboot; the other slot's
boot then records the rollback). When the other slot cannot boot (blank, marked bad, attempts
spent), the running slot is the only good one and cannot be on trial: the update is recorded as
failed, and the running slot is confirmed as on every boot outside a trial.

Pure: the engine asks the slots and persists what this returns.
"""

from __future__ import annotations

from agent.updates.states import State
from agent.updates.store import UpdateRecord


def unknown_record(reason: str, booted: str, other: str, other_good: bool,
                   boot_id: str) -> UpdateRecord:
    """The record to resume from instead of one that cannot be read (`reason`)."""
    error = f"record unreadable: {reason}"
    if not other_good:
        return UpdateRecord(state=State.FAILED, error=error)
    return UpdateRecord(
        state=State.REBOOTING, from_slot=other, to_slot=booted,
        boot_id=boot_id, activated=True, rollback=True,
        error=f"{error}; the running slot may be an update on trial: rolled back",
    )
