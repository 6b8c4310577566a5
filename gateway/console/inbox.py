"""The requests inbox: what prisoners asked, with category, age and assignee; staff reply, and
give a request to a staff account (or take it back)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from common.staff_web.render import done, page
from gateway.console.assign import assignee_problem
from gateway.console.rights import Right
from gateway.console.web import Actor, console_of, need
from gateway.requests import ReplyError, UnknownRequest


def inbox_router() -> APIRouter:
    router = APIRouter()

    @router.get("/requests")
    @router.get("/requests.json")
    async def inbox(request: Request,
                    actor: Annotated[Actor, Depends(need(Right.ANSWER_REQUESTS))],
                    show: str = "open") -> Response:
        console = console_of(request)
        items = await console.service.requests.listing()
        if show == "open":
            items = [r for r in items if r.get("reply") is None]
        now = console.clock()
        for item in items:
            item["age_s"] = max(0, (now - int(item.get("received") or now)) // 1000)
        if show == "mine":
            items = [r for r in items if r.get("assigned_to") == actor.name]
        assignees = [a.name for a in await console.service.io(console.book.accounts)
                     if assignee_problem(console.book, a.name) is None]
        return page(request, "requests.html", {"show": show, "requests": items,
                                               "assignees": assignees})

    @router.post("/requests/{request_id}/reply")
    @router.post("/requests/{request_id}/reply.json")
    async def reply(request: Request, request_id: str,
                    actor: Annotated[Actor, Depends(need(Right.ANSWER_REQUESTS))],
                    text: Annotated[str, Form(min_length=1, max_length=2000)]) -> Response:
        console = console_of(request)
        try:
            result = await console.service.requests.reply(request_id, text, actor.name)
        except UnknownRequest as exc:
            raise HTTPException(404, str(exc)) from exc
        except ReplyError as exc:
            raise HTTPException(409, str(exc)) from exc
        return done(request, "/requests", result)

    @router.post("/requests/{request_id}/assign")
    @router.post("/requests/{request_id}/assign.json")
    async def assign(request: Request, request_id: str,
                     actor: Annotated[Actor, Depends(need(Right.ANSWER_REQUESTS))],
                     to: Annotated[str, Form(max_length=32)] = "") -> Response:
        """`to` empty: take the request back."""
        console = console_of(request)
        if to:
            problem = await console.service.io(assignee_problem, console.book, to)
            if problem:
                raise HTTPException(422, problem)
        try:
            result = await console.service.requests.assign(request_id, to or None, actor.name)
        except UnknownRequest as exc:
            raise HTTPException(404, str(exc)) from exc
        return done(request, "/requests", result)

    return router
