"""The two-person rule's page: what waits for a second person's approval, and the approval that
carries it out. Lifting a wing lockdown is requested from the wing map and lands here."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from gateway.console.render import page
from gateway.console.rights import Right
from gateway.console.signin import done
from gateway.console.two_person import ApprovalError
from gateway.console.web import Actor, Console, console_of, need
from gateway.desired import LockRequest
from gateway.fleet import InputError, Selector, TargetError
from gateway.store import Audit

UNLOCK_WING = "unlock_wing"


async def _audit_lapsed(console: Console) -> None:
    now = console.clock()
    await console.audit(*(
        Audit(now, "system", "two_person_lapsed", p.target,
              {"action": p.action, "requested_by": f"staff:{p.requested_by}",
               "reason": p.reason})
        for p in console.approvals.lapsed(now)))


async def ask_second_person(request: Request, actor: Actor, reason: str) -> Response:
    """Lifting the wing lockdown: recorded as waiting for a second person, not done."""
    console = console_of(request)
    reason = reason.strip()
    if not reason:
        raise HTTPException(422, "a reason is required")
    target = f"wing:{console.service.config.wing}"
    pending = console.approvals.request(UNLOCK_WING, target, reason, actor.name,
                                        console.clock())
    await console.audit(Audit(console.clock(), actor.label, "two_person_request", target,
                              {"action": UNLOCK_WING, "reason": reason, "id": pending.id}))
    return done(request, "/approvals", {"waiting": pending.as_json()})


def approvals_router() -> APIRouter:
    router = APIRouter()

    @router.get("/approvals")
    @router.get("/approvals.json")
    async def waiting(request: Request,
                      actor: Annotated[Actor, Depends(need(Right.LOCK_WIDE))]) -> Response:
        console = console_of(request)
        await _audit_lapsed(console)
        return page(request, "approvals.html", {
            "waiting": [p.as_json() for p in console.approvals.waiting(console.clock())]})

    @router.post("/approvals/{pending_id}/approve")
    @router.post("/approvals/{pending_id}/approve.json")
    async def approve(request: Request, pending_id: str,
                      actor: Annotated[Actor, Depends(need(Right.LOCK_WIDE))]) -> Response:
        console = console_of(request)
        await _audit_lapsed(console)
        try:
            pending = console.approvals.approve(pending_id, actor.name, console.clock())
        except ApprovalError as exc:
            raise HTTPException(409, str(exc)) from exc
        first = f"staff:{pending.requested_by}"
        await console.audit(Audit(console.clock(), actor.label, "two_person_approve",
                                  pending.target, {"action": pending.action, "id": pending.id,
                                                   "requested_by": first}))
        # The signed document names both people: the lock screen and the tablet's audit show it.
        both = f"{pending.requested_by}+{actor.name}"
        try:
            outcome = await console.service.lock(Selector(wing=True),
                                                 LockRequest(False, both, pending.reason), 0.0)
        except (TargetError, InputError) as exc:
            raise HTTPException(422, str(exc)) from exc
        job = console.jobs.follow(
            verb="unlock", target=pending.target, by=f"staff:{both}", reason=pending.reason,
            version=outcome.version, targets=outcome.targets, confirmed=outcome.confirmed,
            rejected=outcome.rejected)
        return done(request, f"/jobs/{job.id}", console.jobs.progress(job.id) or {})

    return router
