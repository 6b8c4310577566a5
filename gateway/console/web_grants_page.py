"""The web grants page (content control, DESIGN §8): every grant with its state, a form to grant a
catalogue site to one tablet until a date, approve and revoke — the `security` role's right.

Who acts is the signed-in account (`console:<name>` to the grant book, which compares it with who
granted). A sensitive site's grant is made waiting for approval and, at once, a two-person request
(`approvals.py`): a second, different account with the right approves it within 10 minutes, else
the request lapses and the grant is revoked. What tablets or staff wrote is shown as text.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from common.staff_web.render import done, page
from gateway.console.approvals import (
    APPROVE_WEB_GRANT,
    approve_pending,
    ask_second_person,
    audit_lapsed,
    console_who,
    grant_target,
)
from gateway.console.rights import Right
from gateway.console.web import Actor, console_of, need
from gateway.web_grants import GrantInputError, UnknownGrant

Grants = Annotated[Actor, Depends(need(Right.WEB_GRANTS))]


def web_grants_router() -> APIRouter:
    router = APIRouter()

    @router.get("/web-grants")
    @router.get("/web-grants.json")
    async def listing(request: Request, actor: Grants, device: str | None = None) -> Response:
        console = console_of(request)
        await audit_lapsed(console)
        service = console.service
        document = service.policy.document
        sites = [] if document is None else [
            {"name": name, "title": site.title, "purpose": site.purpose,
             "sensitive": site.sensitive} for name, site in sorted(document.sites.items())]
        waiting = {p.target.removeprefix("grant:"): p.as_json()
                   for p in console.approvals.waiting(console.clock())
                   if p.action == APPROVE_WEB_GRANT}
        grants: list[dict[str, Any]] = [
            {**g, "waiting": waiting.get(g["id"])} for g in service.web.listing(device or None)]
        return page(request, "web_grants.html", {
            "grants": grants, "sites": sites, "tablets": sorted(service.tablets),
            "device": device or None})

    @router.post("/web-grants")
    @router.post("/web-grants.json")
    async def grant(request: Request, actor: Grants,
                    device: Annotated[str, Form(min_length=1, max_length=64)],
                    site: Annotated[str, Form(min_length=1, max_length=64)],
                    purpose: Annotated[str, Form(min_length=1, max_length=200)],
                    until: Annotated[str, Form(pattern=r"^\d{4}-\d{2}-\d{2}$")]) -> Response:
        console = console_of(request)
        try:
            made = await console.service.web.grant(device, site, purpose, until, actor.name,
                                                   console_who(actor))
        except GrantInputError as exc:
            raise HTTPException(422, str(exc)) from exc
        if made["state"] == "awaiting_approval":
            pending = await ask_second_person(
                console, actor, APPROVE_WEB_GRANT, grant_target(made["id"]),
                f"{made['site']} for {made['subject']}: {made['purpose']}")
            made = {**made, "waiting": pending.as_json()}
        return done(request, "/web-grants", made)

    @router.post("/web-grants/{grant_id}/approve")
    @router.post("/web-grants/{grant_id}/approve.json")
    async def approve(request: Request, grant_id: str, actor: Grants) -> Response:
        console = console_of(request)
        await audit_lapsed(console)
        pending = console.approvals.find(APPROVE_WEB_GRANT, grant_target(grant_id))
        if pending is None:
            raise HTTPException(409, f"no console request waits for approval of {grant_id} "
                                "(lapsed, made from the CLI, or the gateway restarted): revoke "
                                "it and grant it again, or approve it with `staff web approve`")
        return await approve_pending(request, actor, pending.id)

    @router.post("/web-grants/{grant_id}/revoke")
    @router.post("/web-grants/{grant_id}/revoke.json")
    async def revoke(request: Request, grant_id: str, actor: Grants,
                     reason: Annotated[str, Form(max_length=500)] = "") -> Response:
        console = console_of(request)
        try:
            ended = await console.service.web.revoke(grant_id, actor.name, reason.strip())
        except UnknownGrant as exc:
            raise HTTPException(404, str(exc)) from exc
        except GrantInputError as exc:
            raise HTTPException(409, str(exc)) from exc
        pending = console.approvals.find(APPROVE_WEB_GRANT, grant_target(grant_id))
        if pending is not None:
            console.approvals.cancel(pending.id)
        return done(request, "/web-grants", ended)

    return router
