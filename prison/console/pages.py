"""The prison console's pages, each with its JSON twin (`.json`): the prison view (what
`prison status` shows, from the same code), a wing's tablets, the prison-wide lockdown (with a
confirmation) followed wing by wing until every tablet confirmed (what `prison lock --wait`
prints), asking to lift it and a second person's approval, and the console's events."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import asdict
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from common.staff_web.render import done, page
from common.staff_web.web import Actor, Forbidden, need
from prison import lift_requests, staff_actions, staff_events, view
from prison.console.rights import Right
from prison.console.web import PrisonConsole, console_of
from prison.staff_actions import Staff
from prison.store import Link, PrisonStore

T = TypeVar("T")
Reason = Annotated[str, Form(min_length=1, max_length=500)]
Viewer = Annotated[Actor, Depends(need(Right.VIEW_PRISON))]
Locker = Annotated[Actor, Depends(need(Right.LOCKDOWN))]
EventViewer = Annotated[Actor, Depends(need(Right.VIEW_EVENTS))]
CONFIRM = "lock every wing"
"""What the confirmation box carries: a lockdown is never one stray click."""


def _overview(console: PrisonConsole, now: int) -> dict[str, Any]:
    store, wings = console.store, console.config.wings
    latest = store.latest_command()
    return {
        "prison": console.config.prison,
        "wings": [w.as_json() for w in view.prison_status(store, wings)],
        "command": _command_json(store, latest.version, wings) if latest else None,
        "waiting": [r.as_json() for r in lift_requests.waiting(store, now)],
    }


def _command_json(store: PrisonStore, version: int, wings: list[str]) -> dict[str, Any] | None:
    command = store.command(version)
    if command is None:
        return None
    pending = view.pending(store, wings, version)
    links = {w: store.link(w) for w in wings}
    return {
        "version": command.version, "locked": command.locked, "by": command.by,
        "reason": command.reason, "issued": command.issued,
        "confirmed": not pending,
        "wings": [{"wing": w, "confirmed": w not in pending, "pending": pending.get(w, []),
                   "link": _link(links[w])} for w in wings],
    }


def _link(link: Link | None) -> str:
    return "unknown" if link is None else ("up" if link.up else "down")


def _wing(console: PrisonConsole, wing: str) -> dict[str, Any]:
    store = console.store
    status = view.prison_status(store, [wing])[0]
    return {"wing": status.as_json(), "tablets": [asdict(t) for t in store.tablets(wing)]}


async def _recorded(action: Awaitable[T]) -> T:
    """What an action returns; a refusal of what was asked (no reason given) is a 422."""
    try:
        return await action
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from exc


def prison_router() -> APIRouter:
    router = APIRouter()

    @router.get("/")
    @router.get("/prison")
    @router.get("/prison.json")
    async def overview(request: Request, actor: Viewer) -> Response:
        console = console_of(request)
        data = await console.io(_overview, console, console.clock())
        return page(request, "prison.html", data, confirm_text=CONFIRM)

    @router.get("/wings/{wing}")  # after the next: ".json" first
    @router.get("/wings/{wing}.json")
    async def wing_page(request: Request, wing: str, actor: Viewer
                        ) -> Response:
        console = console_of(request)
        if wing not in console.config.wings:
            raise HTTPException(404, "no such wing in this prison")
        return page(request, "wing.html", await console.io(_wing, console, wing))

    @router.post("/lockdown")
    @router.post("/lockdown.json")
    async def lockdown(request: Request, actor: Locker, reason: Reason,
                       confirm: Annotated[str, Form(max_length=64)] = "") -> Response:
        console = console_of(request)
        if confirm != CONFIRM:
            raise HTTPException(422, "tick the box to confirm that every wing is to be locked")
        command = await _recorded(console.io(staff_actions.lock, console.store, console.config,
                                             console.key, Staff.console(actor.name), reason,
                                             console.clock()))
        return done(request, f"/commands/{command.version}",
                    {"ok": True, "command": command.version})

    @router.get("/commands/{version}")  # after the next: ".json" first
    @router.get("/commands/{version}.json")
    async def command_page(request: Request, version: int, actor: Viewer
                           ) -> Response:
        console = console_of(request)
        data = await console.io(_command_json, console.store, version, console.config.wings)
        if data is None:
            raise HTTPException(404, "no such command")
        return page(request, "command.html", data)

    @router.post("/unlock")
    @router.post("/unlock.json")
    async def unlock(request: Request, actor: Locker, reason: Reason
                     ) -> Response:
        console = console_of(request)
        asked = await _recorded(console.io(staff_actions.ask_lift, console.store, console.config,
                                           Staff.console(actor.name), reason, console.clock()))
        return done(request, "/approvals", {"ok": True, "awaiting_approval": asked.as_json()})

    @router.get("/approvals")
    @router.get("/approvals.json")
    async def approvals(request: Request, actor: Viewer) -> Response:
        console = console_of(request)
        waiting = await console.io(lift_requests.waiting, console.store, console.clock())
        return page(request, "approvals.html", {"waiting": [r.as_json() for r in waiting]})

    @router.post("/approvals/{request_id}/approve")
    @router.post("/approvals/{request_id}/approve.json")
    async def approve(request: Request, request_id: str, actor: Locker
                      ) -> Response:
        console = console_of(request)
        try:
            asked, command = await console.io(
                staff_actions.approve_lift, console.store, console.config, console.key,
                Staff.console(actor.name),
                request_id[:64], console.clock())
        except lift_requests.LiftError as exc:
            raise Forbidden(str(exc)) from exc
        return done(request, f"/commands/{command.version}",
                    {"ok": True, "command": command.version, "by": command.by,
                     "request": asked.as_json()})

    @router.get("/events")
    @router.get("/events.json")
    async def event_list(request: Request, actor: EventViewer) -> Response:
        console = console_of(request)
        found = await console.io(staff_events.newest, console.store)
        return page(request, "events.html", {"events": [
            {"at": e.at, "actor": e.actor, "action": e.action, "target": e.target,
             "detail": dict(e.detail)} for e in found]})

    return router
