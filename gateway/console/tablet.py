"""A tablet's page: its state, versions, slot, profile, policy hash, web grants, recent audit,
requests, its one-off jobs, and "Wipe this tablet" (the `wipe` right): a wipe asked for here is
a two-person request (`approvals.py`); a second, different account approves it within 10
minutes, and only then is it signed and sent (`gateway.job_desk`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from common.staff_web.render import done, page
from gateway.console import audit_query
from gateway.console.approvals import WIPE_TABLET, ask_second_person, console_who, job_target
from gateway.console.audit_query import AuditFilter
from gateway.console.rights import Right
from gateway.console.web import Actor, console_of, need
from gateway.console.wing_map import tablet_state
from gateway.job_desk import JobInputError, UnknownJob


def tablet_router() -> APIRouter:
    router = APIRouter()

    @router.get("/tablets/{device}")
    @router.get("/tablets/{device}.json")  # registered first (decorators apply bottom-up)
    async def tablet(request: Request, device: str,
                     actor: Annotated[Actor, Depends(need(Right.VIEW_WING))]) -> Response:
        console = console_of(request)
        service = console.service
        view = next((v for v in service.tablet_views() if v["id"] == device), None)
        if view is None:
            raise HTTPException(404, f"no tablet {device} on this wing")
        report = service.reported.get(device)
        update = report.update if report else None
        data = {
            "tablet": tablet_state(view, report),
            "desired": view["desired"], "lockdown": view["lockdown"],
            "agent_version": report.agent_version if report else None,
            "profile": report.profile if report else None,
            "signed_in": report.signed_in if report else None,
            "policy_hash": report.policy_hash if report else None,
            "update": update.model_dump() if update else None,
            "boot_id": view["boot_id"],
            "audit": (await console.io(audit_query.query, service.store,
                                       AuditFilter(tablet=device, limit=20)))
            if Right.VIEW_AUDIT in actor.rights else None,
            "requests": await service.requests.listing(device)
            if Right.ANSWER_REQUESTS in actor.rights else None,
            "web_grants": service.web.listing(device)
            if Right.WEB_GRANTS in actor.rights else None,
            "jobs": await service.jobs.listing(device) if Right.WIPE in actor.rights else None,
        }
        return page(request, "tablet.html", data)

    @router.post("/tablets/{device}/wipe")
    @router.post("/tablets/{device}/wipe.json")
    async def wipe(request: Request, device: str,
                   actor: Annotated[Actor, Depends(need(Right.WIPE))],
                   reason: Annotated[str, Form(min_length=1, max_length=500)]) -> Response:
        """Ask for a wipe: recorded, waiting for a second person; nothing is sent."""
        console = console_of(request)
        try:
            job = await console.service.jobs.request(device, "wipe", reason, actor.name,
                                                     console_who(actor))
        except UnknownJob as exc:
            raise HTTPException(404, str(exc)) from exc
        except JobInputError as exc:
            raise HTTPException(422, str(exc)) from exc
        pending = await ask_second_person(console, actor, WIPE_TABLET, job_target(job["id"]),
                                          f"wipe {device}: {reason.strip()}")
        return done(request, "/approvals", {**job, "waiting": pending.as_json()})

    return router
