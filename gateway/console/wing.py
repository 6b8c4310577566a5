"""The wing map page, lock and unlock by tablet, cell, landing or wing (with a reason), and the
live confirmation of a lock (Server-Sent Events until every target has reported it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response
from sse_starlette.sse import EventSourceResponse

from common.staff_web.render import done, page
from gateway.console.approvals import ask_to_lift_lockdown
from gateway.console.jobs import LockJobs
from gateway.console.rights import Right
from gateway.console.web import Actor, Forbidden, console_of, need
from gateway.console.wing_map import STATES, wing_map
from gateway.desired import LockRequest
from gateway.fleet import InputError, Selector, TargetError

POLL_S = 0.2
SCOPES = ("devices", "cell", "landing", "wing")


def selector_for(scope: str, devices: list[str], cell: str, landing: str) -> Selector:
    if scope == "devices":
        if not devices:
            raise InputError("select at least one tablet")
        return Selector(devices=tuple(dict.fromkeys(devices)))
    if scope == "cell":
        return Selector(cell=cell)
    if scope == "landing":
        return Selector(landing=landing)
    if scope == "wing":
        return Selector(wing=True)
    raise InputError(f"scope must be one of {', '.join(SCOPES)}")


def right_for(scope: str) -> Right:
    """Single tablets and cells are an officer's; a landing or the wing needs security."""
    return Right.LOCK_WIDE if scope in ("landing", "wing") else Right.LOCK_CELL


async def progress_events(jobs: LockJobs, job_id: str, poll_s: float = POLL_S
                          ) -> AsyncIterator[dict[str, Any]]:
    """A `progress` event each time the counts change, until all confirmed (or given up)."""
    last = None
    while True:
        progress = jobs.progress(job_id)
        if progress is None:
            return
        if progress != last:
            yield {"event": "progress", "data": json.dumps(progress)}
            last = progress
        if progress["done"] or progress["given_up"]:
            return
        await asyncio.sleep(poll_s)


def wing_router() -> APIRouter:
    router = APIRouter()

    @router.get("/")
    @router.get("/wing")
    @router.get("/wing.json")
    async def wing(request: Request, actor: Annotated[Actor, Depends(need(Right.VIEW_WING))],
                   landing: str | None = None, state: str | None = None) -> Response:
        service = console_of(request).service
        if state and state not in STATES:
            raise HTTPException(422, f"state: one of {', '.join(STATES)}")
        data = wing_map(service.config.wing, service.tablet_views(), service.reported,
                        landing=landing or None, state=state or None)
        return page(request, "wing.html", data)

    @router.post("/lock")
    @router.post("/lock.json")
    async def lock(request: Request, actor: Annotated[Actor, Depends(need(Right.VIEW_WING))],
                   action: Annotated[str, Form(pattern="^(lock|unlock)$")],
                   scope: Annotated[str, Form(max_length=16)],
                   reason: Annotated[str, Form(max_length=500)],
                   devices: Annotated[list[str] | None, Form(max_length=5000)] = None,
                   cell: Annotated[str, Form(max_length=64)] = "",
                   landing: Annotated[str, Form(max_length=64)] = "") -> Response:
        console = console_of(request)
        right = right_for(scope)
        if right not in actor.rights:
            raise Forbidden(f"your roles do not include the right {right.value}")
        locked = action == "lock"
        if scope == "wing" and not locked:
            return await ask_to_lift_lockdown(request, actor, reason)
        try:
            selector = selector_for(scope, devices or [], cell, landing)
            outcome = await console.service.lock(
                selector, LockRequest(locked, actor.name, reason.strip()), 0.0)
        except TargetError as exc:
            raise HTTPException(404, str(exc)) from exc
        except InputError as exc:
            raise HTTPException(422, str(exc)) from exc
        job = console.jobs.follow(
            verb=action, target=selector.describe(console.service.config.wing), by=actor.label,
            reason=reason.strip(), version=outcome.version, targets=outcome.targets,
            confirmed=outcome.confirmed, rejected=outcome.rejected)
        progress = console.jobs.progress(job.id) or {}
        return done(request, f"/jobs/{job.id}", progress)

    @router.get("/jobs/{job_id}")
    @router.get("/jobs/{job_id}.json")  # registered first (decorators apply bottom-up)
    async def job(request: Request, job_id: str,
                  actor: Annotated[Actor, Depends(need(Right.VIEW_WING))]) -> Response:
        progress = console_of(request).jobs.progress(job_id)
        if progress is None:
            raise HTTPException(404, "no such lock is being followed")
        return page(request, "job.html", progress)

    @router.get("/jobs/{job_id}/events")
    async def events(request: Request, job_id: str,
                     actor: Annotated[Actor, Depends(need(Right.VIEW_WING))]
                     ) -> EventSourceResponse:
        jobs = console_of(request).jobs
        if jobs.progress(job_id) is None:
            raise HTTPException(404, "no such lock is being followed")
        return EventSourceResponse(progress_events(jobs, job_id), ping=15)

    return router
