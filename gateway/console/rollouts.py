"""The rollouts page (IT): every rollout with its stage and counts, each tablet's update state,
and a new rollout started (canary tablets first, then the rest of the wing)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from gateway.console.render import page
from gateway.console.rights import Right
from gateway.console.signin import done
from gateway.console.web import Actor, console_of, need
from gateway.fleet import InputError, TargetError
from gateway.rollout import Rollout
from wire.documents import UpdateTarget


def rollouts_router() -> APIRouter:
    router = APIRouter()

    @router.get("/rollouts")
    @router.get("/rollouts.json")
    async def listing(request: Request,
                      actor: Annotated[Actor, Depends(need(Right.ROLLOUTS))]) -> Response:
        manager = console_of(request).service.rollouts
        return page(request, "rollouts.html", {**manager.status(),
                                               "wing_tablets": manager.wing_tablets()})

    @router.post("/rollouts")
    @router.post("/rollouts.json")
    async def start(request: Request, actor: Annotated[Actor, Depends(need(Right.ROLLOUTS))],
                    rollout_id: Annotated[str, Form(pattern=r"^[A-Za-z0-9._-]{1,64}$")],
                    target: Annotated[str, Form(max_length=256)],
                    version: Annotated[str, Form(max_length=64)],
                    canary: Annotated[list[str], Form(min_length=1, max_length=5000)],
                    rest_wing: Annotated[bool, Form()] = False) -> Response:
        manager = console_of(request).service.rollouts
        canary = list(dict.fromkeys(canary))
        try:
            UpdateTarget(target=target, version=version)
        except ValueError as exc:
            await manager.refused(rollout_id, target, version, actor.name, str(exc)[:200])
            raise HTTPException(422, "target/version: not a release the tablets accept") from exc
        rest = sorted(set(manager.wing_tablets()) - set(canary)) if rest_wing else []
        rollout = Rollout(id=rollout_id, target=target, version=version, canary=tuple(canary),
                          rest=tuple(rest), by=actor.name)
        try:
            result = await manager.start(rollout)
        except TargetError as exc:
            await manager.refused(rollout_id, target, version, actor.name, str(exc))
            raise HTTPException(404, str(exc)) from exc
        except InputError as exc:
            await manager.refused(rollout_id, target, version, actor.name, str(exc))
            raise HTTPException(422, str(exc)) from exc
        return done(request, "/rollouts", result.rollout.model_dump(mode="json"))

    return router
