"""A tablet's page: its state, versions, slot, profile, policy hash, web grants, recent audit and
requests."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from gateway.console import audit_query
from gateway.console.audit_query import AuditFilter
from gateway.console.render import page
from gateway.console.rights import Right
from gateway.console.web import Actor, console_of, need
from gateway.console.wing_map import tablet_state


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
        }
        return page(request, "tablet.html", data)

    return router
