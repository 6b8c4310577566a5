"""Two-person approvals in the gateway's control API (included into `gateway.api.make_app`): what
waits for a second person, and approving a lift of the wing lockdown.

`staff unlock --wing` only asks (`POST /v1/lock` answers 202 with what waits); a second,
different OS account approves it here within 10 minutes, or in the console; the console's own
requests can be approved here too. Who asks and who approves is the caller's OS account from the
socket's peer credentials; an OS account and a console account of one name are one person. A
wipe or a web grant is approved through its own book (`/v1/jobs/ID/approve`,
`/v1/web/grants/ID/approve`), which signs what it sends.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from gateway import approval_desk
from gateway.caller_api import Caller
from gateway.fleet import InputError, TargetError
from gateway.lock import LockOutcome
from gateway.service import GatewayService
from gateway.store import Audit
from gateway.two_person import UNLOCK_WING, WIPE_TABLET, ApprovalError, Pending

MAX_WAIT_S = 600.0
OTHER_BOOK = {WIPE_TABLET: "approve a wipe with `staff wipe approve JOB`"}


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    wait_s: Annotated[float, Field(ge=0, le=MAX_WAIT_S)] = 0.0


def outcome_json(outcome: LockOutcome) -> dict[str, Any]:
    return {"targets": outcome.targets, "version": outcome.version,
            "confirmed": outcome.confirmed, "pending": outcome.pending,
            "rejected": outcome.rejected}


async def ask_to_lift(service: GatewayService, caller: str, reason: str) -> dict[str, Any]:
    """A lift of the wing lockdown from the CLI: recorded as waiting, nothing sent."""
    who = f"os:{caller}"
    pending = await approval_desk.ask(service, UNLOCK_WING, approval_desk.wing_target(service),
                                      reason.strip(), who, f"staff:{who}")
    return {"awaiting_approval": pending.as_json()}


def approvals_router(service: GatewayService) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/approvals")
    async def waiting() -> dict[str, Any]:
        await approval_desk.sweep_lapsed(service)
        return {"waiting": [p.as_json() for p in service.approvals.waiting(service.clock())]}

    @router.post("/v1/approvals/{pending_id}/approve")
    async def approve(pending_id: str, body: ApproveBody, caller: Caller) -> dict[str, Any]:
        await approval_desk.sweep_lapsed(service)
        who = f"os:{caller}"
        waiting = service.approvals.get(pending_id)
        if waiting is not None and waiting.action != UNLOCK_WING:
            raise HTTPException(409, OTHER_BOOK.get(
                waiting.action, "approve a web grant with `staff web approve ID`"))
        try:
            pending: Pending = service.approvals.approve(pending_id, who, service.clock())
        except ApprovalError as exc:
            raise HTTPException(409, str(exc)) from exc
        await approval_desk.record(service, Audit(
            service.clock(), f"staff:{who}", "two_person_approve", pending.target,
            {"action": pending.action, "id": pending.id,
             "requested_by": f"staff:{pending.requested_by}"}))
        try:
            both, outcome = await approval_desk.lift_lockdown(service, pending, who, body.wait_s)
        except (TargetError, InputError) as exc:
            raise HTTPException(422, str(exc)) from exc
        return {**outcome_json(outcome), "approved": pending.as_json(), "by": both}

    return router
