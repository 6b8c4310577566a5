"""What the prison console does to the prison store, each in one transaction with the console
event that records it (`console_events`): a prison-wide lockdown, a request to lift it, and a
second person's approval (or its refusal). Synchronous: the console runs them on its store
thread. Who acts is the console account, `console:<name>` in the signed command and the lift
request (so `same_person` compares it with OS accounts), `staff:<name>` in the event."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.staff_web.accounts import StaffEvent
from prison import lift_requests
from prison.commands import issue_lockdown
from prison.config import PrisonConfig
from prison.console.accounts import PrisonAccounts
from prison.lift_requests import LiftRequest
from prison.store import Command, PrisonStore


def signer(name: str) -> str:
    """The console account as commands and lift requests name it."""
    return f"console:{name}"


def lock(store: PrisonStore, config: PrisonConfig, key: Ed25519PrivateKey, name: str,
         reason: str, now: int) -> Command:
    with store.backend.transaction():
        command = issue_lockdown(store, key, config.prison, locked=True, by=signer(name),
                                 reason=reason, now_ms=now, ttl_s=config.command_ttl_s)
        PrisonAccounts(store).record(StaffEvent(
            now, f"staff:{name}", "prison_lock", f"prison:{config.prison}",
            {"command": command.version, "reason": command.reason}))
    return command


def ask_lift(store: PrisonStore, config: PrisonConfig, name: str, reason: str, now: int
             ) -> LiftRequest:
    with store.backend.transaction():
        request = lift_requests.ask(store, reason, signer(name), now)
        PrisonAccounts(store).record(StaffEvent(
            now, f"staff:{name}", "prison_unlock_request", f"prison:{config.prison}",
            {"request": request.id, "reason": request.reason}))
    return request


def approve_lift(store: PrisonStore, config: PrisonConfig, key: Ed25519PrivateKey, name: str,
                 request_id: str, now: int) -> tuple[LiftRequest, Command]:
    """Raises `LiftError` (recorded as `prison_unlock_refused`) when the rule refuses."""
    def issue(both: str, reason: str) -> Command:
        return issue_lockdown(store, key, config.prison, locked=False, by=both, reason=reason,
                              now_ms=now, ttl_s=config.command_ttl_s)

    events = PrisonAccounts(store)
    try:
        with store.backend.transaction():
            request, command = lift_requests.approve(store, request_id, signer(name), now, issue)
            events.record(StaffEvent(
                now, f"staff:{name}", "prison_unlock_approve", f"prison:{config.prison}",
                {"request": request.id, "command": command.version, "by": command.by}))
    except lift_requests.LiftError as exc:
        events.record(StaffEvent(now, f"staff:{name}", "prison_unlock_refused",
                                 f"prison:{config.prison}",
                                 {"request": request_id, "why": str(exc)}))
        raise
    return request, command
