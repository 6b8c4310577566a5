"""What staff do to the prison store, from the console or the `prison` CLI, each in one
transaction with the staff event that records it (`prison.staff_events`): a prison-wide
lockdown, a request to lift it, and a second person's approval, or its refusal, which is
recorded on its own (nothing else changes). Synchronous: the console runs them on its store
thread, the CLI in its own process."""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.staff_web.accounts import StaffEvent
from prison import lift_requests, staff_events
from prison.commands import issue_lockdown
from prison.config import PrisonConfig
from prison.lift_requests import LiftRequest
from prison.store import Command, PrisonStore


@dataclass(frozen=True, slots=True)
class Staff:
    """Who acts: `signer` as the signed command and the lift request name them (so
    `same_person` compares console and OS accounts), `label` as the event records them."""

    signer: str
    label: str

    @classmethod
    def console(cls, name: str) -> Staff:
        return cls(f"console:{name}", f"staff:{name}")

    @classmethod
    def os_account(cls, recorded: str) -> Staff:
        """An OS account as `common.staff_identity.recorded_by` names it (`os:<account>`)."""
        return cls(recorded, recorded)


def _target(config: PrisonConfig) -> str:
    return f"prison:{config.prison}"


def lock(store: PrisonStore, config: PrisonConfig, key: Ed25519PrivateKey, staff: Staff,
         reason: str, now: int) -> Command:
    with store.backend.transaction():
        command = issue_lockdown(store, key, config.prison, locked=True, by=staff.signer,
                                 reason=reason, now_ms=now, ttl_s=config.command_ttl_s)
        staff_events.record(store, StaffEvent(
            now, staff.label, "prison_lock", _target(config),
            {"command": command.version, "reason": command.reason}))
    return command


def ask_lift(store: PrisonStore, config: PrisonConfig, staff: Staff, reason: str, now: int
             ) -> LiftRequest:
    with store.backend.transaction():
        request = lift_requests.ask(store, reason, staff.signer, now)
        staff_events.record(store, StaffEvent(
            now, staff.label, "prison_unlock_request", _target(config),
            {"request": request.id, "reason": request.reason}))
    return request


def approve_lift(store: PrisonStore, config: PrisonConfig, key: Ed25519PrivateKey, staff: Staff,
                 request_id: str, now: int) -> tuple[LiftRequest, Command]:
    """Raises `LiftError` (recorded as `prison_unlock_refused`) when the rule refuses."""
    def issue(both: str, reason: str) -> Command:
        return issue_lockdown(store, key, config.prison, locked=False, by=both, reason=reason,
                              now_ms=now, ttl_s=config.command_ttl_s)

    try:
        with store.backend.transaction():
            request, command = lift_requests.approve(store, request_id, staff.signer, now, issue)
            staff_events.record(store, StaffEvent(
                now, staff.label, "prison_unlock_approve", _target(config),
                {"request": request.id, "command": command.version, "by": command.by}))
    except lift_requests.LiftError as exc:
        staff_events.record(store, StaffEvent(now, staff.label, "prison_unlock_refused",
                                              _target(config),
                                              {"request": request_id, "why": str(exc)}))
        raise
    return request, command
