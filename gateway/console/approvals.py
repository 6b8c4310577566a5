"""The two-person rule's page: what waits for a second person's approval, and the approval that
carries it out. Lifting a wing lockdown is requested from the wing map, approving a sensitive
site's web grant from the web grants page, a remote wipe from the tablet's page; all land here,
one mechanism (`two_person.py`).

Each action needs its own right of both people (`RIGHT_FOR`); a lapsed request is audited, and a
sensitive grant whose approval lapsed is revoked, so it can never take effect later by accident.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from common.staff_identity import same_person
from common.staff_web.render import done, page
from gateway import approval_desk
from gateway.console.rights import Right
from gateway.console.web import Actor, Console, Forbidden, console_of, signed_in
from gateway.fleet import InputError, TargetError
from gateway.job_desk import JobInputError, UnknownJob
from gateway.store import Audit
from gateway.two_person import (
    APPROVE_WEB_GRANT,
    UNLOCK_WING,
    WIPE_TABLET,
    ApprovalError,
    Pending,
)
from gateway.web_grants import GrantInputError, UnknownGrant

RIGHT_FOR: dict[str, Right] = {UNLOCK_WING: Right.LOCK_WIDE, APPROVE_WEB_GRANT: Right.WEB_GRANTS,
                               WIPE_TABLET: Right.WIPE}
"""The right both the asker and the approver of each two-person action must hold."""


def grant_target(grant_id: str) -> str:
    return f"grant:{grant_id}"


def job_target(job_id: str) -> str:
    return f"job:{job_id}"


def console_who(actor: Actor) -> str:
    """A console account's verified identity, as the grant book compares it."""
    return f"console:{actor.name}"


async def audit_lapsed(console: Console) -> None:
    """Audit what lapsed, once (the service's sweep, which the control API shares)."""
    await approval_desk.sweep_lapsed(console.service)


async def ask_second_person(console: Console, actor: Actor, action: str, target: str,
                            reason: str) -> Pending:
    """Record `action` on `target` as waiting for a second person (audited), not done."""
    return await approval_desk.ask(console.service, action, target, reason, actor.name,
                                   actor.label)


async def ask_to_lift_lockdown(request: Request, actor: Actor, reason: str) -> Response:
    """Lifting the wing lockdown: recorded as waiting for a second person, not done."""
    console = console_of(request)
    reason = reason.strip()
    if not reason:
        raise HTTPException(422, "a reason is required")
    pending = await ask_second_person(console, actor, UNLOCK_WING,
                                      approval_desk.wing_target(console.service), reason)
    return done(request, "/approvals", {"waiting": pending.as_json()})


def _may_approve_any(actor: Actor) -> None:
    if not any(right in actor.rights for right in RIGHT_FOR.values()):
        names = " or ".join(r.value for r in RIGHT_FOR.values())
        raise Forbidden(f"your roles include neither right {names}")


async def approve_pending(request: Request, actor: Actor, pending_id: str) -> Response:
    """The second person agrees: the action is carried out, naming both."""
    console = console_of(request)
    _may_approve_any(actor)
    await audit_lapsed(console)
    waiting = console.approvals.get(pending_id)
    if waiting is not None and RIGHT_FOR[waiting.action] not in actor.rights:
        raise Forbidden(f"your roles do not include the right {RIGHT_FOR[waiting.action].value}")
    try:
        pending = console.approvals.approve(pending_id, actor.name, console.clock())
    except ApprovalError as exc:
        raise HTTPException(409, str(exc)) from exc
    await console.audit(Audit(console.clock(), actor.label, "two_person_approve", pending.target,
                              {"action": pending.action, "id": pending.id,
                               "requested_by": f"staff:{pending.requested_by}"}))
    if pending.action == APPROVE_WEB_GRANT:
        return await _approve_grant(request, actor, pending)
    if pending.action == WIPE_TABLET:
        return await _approve_wipe(request, actor, pending)
    return await _lift_lockdown(request, actor, pending)


async def _approve_grant(request: Request, actor: Actor, pending: Pending) -> Response:
    web = console_of(request).service.web
    try:
        grant = await web.approve(pending.target.removeprefix("grant:"), actor.name,
                                  console_who(actor))
    except UnknownGrant as exc:
        raise HTTPException(404, str(exc)) from exc
    except GrantInputError as exc:
        raise HTTPException(409, str(exc)) from exc
    return done(request, "/web-grants", grant)


async def _approve_wipe(request: Request, actor: Actor, pending: Pending) -> Response:
    """Only now is the wipe signed (naming both people) and sent (`gateway.job_desk`)."""
    jobs = console_of(request).service.jobs
    try:
        job = await jobs.approve(pending.target.removeprefix("job:"), actor.name,
                                 console_who(actor))
    except UnknownJob as exc:
        raise HTTPException(404, str(exc)) from exc
    except JobInputError as exc:
        raise HTTPException(409, str(exc)) from exc
    return done(request, f"/tablets/{job['device']}", job)


async def _lift_lockdown(request: Request, actor: Actor, pending: Pending) -> Response:
    console = console_of(request)
    try:
        both, outcome = await approval_desk.lift_lockdown(console.service, pending, actor.name)
    except (TargetError, InputError) as exc:
        raise HTTPException(422, str(exc)) from exc
    job = console.jobs.follow(
        verb="unlock", target=pending.target, by=f"staff:{both}", reason=pending.reason,
        version=outcome.version, targets=outcome.targets, confirmed=outcome.confirmed,
        rejected=outcome.rejected)
    return done(request, f"/jobs/{job.id}", console.jobs.progress(job.id) or {})


def approvals_router() -> APIRouter:
    router = APIRouter()

    @router.get("/approvals")
    @router.get("/approvals.json")
    async def waiting(request: Request,
                      actor: Annotated[Actor, Depends(signed_in)]) -> Response:
        _may_approve_any(actor)
        console = console_of(request)
        await audit_lapsed(console)
        shown: list[dict[str, Any]] = [
            {**p.as_json(), "mine": same_person(p.requested_by, actor.name)}
            for p in console.approvals.waiting(console.clock())
            if RIGHT_FOR[p.action] in actor.rights]
        return page(request, "approvals.html", {"waiting": shown})

    @router.post("/approvals/{pending_id}/approve")
    @router.post("/approvals/{pending_id}/approve.json")
    async def approve(request: Request, pending_id: str,
                      actor: Annotated[Actor, Depends(signed_in)]) -> Response:
        return await approve_pending(request, actor, pending_id)

    return router
