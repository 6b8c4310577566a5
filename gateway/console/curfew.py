"""The curfew page: the week's timetable in the wing's time zone, where the wing stands now,
which tablets report being in curfew, and one-off exceptions and lockdowns (add, remove) — each
a new signed policy version, as `staff policy curfew exception|lockdown|remove` makes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from common.staff_web.render import done, page
from gateway.console.rights import Right
from gateway.console.web import Actor, Console, console_of, need
from gateway.policy_service import PolicyInputError

LocalTime = Annotated[str, Form(pattern=r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}$")]


def _local(value: str) -> str:
    try:
        moment = dt.datetime.strptime(value.replace(" ", "T"), "%Y-%m-%dT%H:%M")
    except ValueError:
        raise HTTPException(422, f"{value!r} is not a local time like 2026-12-24T22:00") from None
    return moment.strftime("%Y-%m-%dT%H:%M")


async def _edit(console: Console, actor: Actor, change: Callable[[dict[str, Any]], None]
                ) -> None:
    """Change the rules in force and publish them as a new version (audited as `actor`)."""
    policy = console.service.policy
    rules = policy.rules()
    if rules is None:
        raise HTTPException(409, "no wing policy has been applied yet: upload one first")
    change(rules)
    try:
        await policy.apply(rules, actor.name)
    except PolicyInputError as exc:
        raise HTTPException(422, str(exc)) from exc


def curfew_router() -> APIRouter:
    router = APIRouter()

    @router.get("/curfew")
    @router.get("/curfew.json")
    async def curfew(request: Request,
                     actor: Annotated[Actor, Depends(need(Right.CURFEW))]) -> Response:
        console = console_of(request)
        service = console.service
        document = service.policy.document
        schedule = service.policy.schedule()
        data: dict[str, Any] = {"policy": None}
        if document is not None and schedule is not None:
            answer = schedule.decide("standard", console.clock())
            data = {
                "policy": document.name, "timezone": document.timezone,
                "windows": [str(w) for w in document.curfew],
                "now": {"state": answer.state, "label": answer.label,
                        "starts_at": answer.starts_at, "ends_at": answer.ends_at},
                "exceptions": [o.model_dump(mode="json") for o in document.overrides],
                "lockdowns": [lo.model_dump(mode="json") for lo in document.lockdowns],
            }
        data["in_curfew"] = sorted(d for d, r in service.reported.items() if r.curfew == "curfew")
        return page(request, "curfew.html", data)

    @router.post("/curfew/exceptions")
    @router.post("/curfew/exceptions.json")
    async def add(request: Request, actor: Annotated[Actor, Depends(need(Right.CURFEW))],
                  name: Annotated[str, Form(min_length=1, max_length=120)],
                  start: LocalTime, end: LocalTime,
                  effect: Annotated[str, Form(pattern="^(open|curfew|lockdown)$")]) -> Response:
        console = console_of(request)
        item: dict[str, Any] = {"name": name.strip(), "start": _local(start), "end": _local(end)}

        def change(rules: dict[str, Any]) -> None:
            if effect == "lockdown":
                rules["lockdowns"].append(item)
            else:
                rules["overrides"].append({**item, "effect": effect})

        await _edit(console, actor, change)
        return done(request, "/curfew", {"added": item, "effect": effect})

    @router.post("/curfew/exceptions/remove")
    @router.post("/curfew/exceptions/remove.json")
    async def remove(request: Request, actor: Annotated[Actor, Depends(need(Right.CURFEW))],
                     name: Annotated[str, Form(min_length=1, max_length=120)]) -> Response:
        console = console_of(request)

        def change(rules: dict[str, Any]) -> None:
            before = len(rules["overrides"]) + len(rules["lockdowns"])
            rules["overrides"] = [o for o in rules["overrides"] if o["name"] != name]
            rules["lockdowns"] = [o for o in rules["lockdowns"] if o["name"] != name]
            if len(rules["overrides"]) + len(rules["lockdowns"]) == before:
                raise HTTPException(404, f"no exception or lockdown called {name!r}")

        await _edit(console, actor, change)
        return done(request, "/curfew", {"removed": name})

    return router
