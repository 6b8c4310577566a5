"""The rollouts page (IT): every rollout with its stage and counts per cohort (canary, rest), each
tablet's update state; a new rollout started (canary tablets first, then the rest of the wing),
a running one paused, resumed or cancelled with a reason (audited as the console account)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from common.staff_web.render import done, page
from gateway.console.rights import Right
from gateway.console.web import Actor, console_of, need
from gateway.fleet import InputError, TargetError
from gateway.rollout import Rollout, outcome
from gateway.rollout_service import RolloutManager
from wire.documents import ReportedState, UpdateTarget

Reason = Annotated[str, Form(max_length=500)]
RolloutId = Annotated[str, Form(pattern=r"^[A-Za-z0-9._-]{1,64}$")]


def cohorts(rollout: Rollout, reported: Mapping[str, ReportedState]
            ) -> dict[str, dict[str, int]]:
    """Counts per cohort: the canary tablets, and the rest (all `not_reached` until released)."""
    reached = set(rollout.reached())
    result = {}
    for name, devices in (("canary", rollout.canary), ("rest", rollout.rest)):
        counts = {"tablets": len(devices), "waiting": 0, "in_progress": 0, "succeeded": 0,
                  "failed": 0, "not_reached": 0}
        for device in devices:
            key = (outcome(rollout, reported.get(device)) if device in reached
                   else "not_reached")
            counts[key] += 1
        result[name] = counts
    return result


def status(manager: RolloutManager, reported: Mapping[str, ReportedState]) -> dict[str, Any]:
    data = manager.status()
    for entry in data["rollouts"]:
        entry["cohorts"] = cohorts(manager.rollouts[entry["id"]], reported)
        entry["active"] = manager.rollouts[entry["id"]].active()
    return {**data, "wing_tablets": manager.wing_tablets()}


async def _changed(request: Request, manager: RolloutManager, action: str, rollout_id: str,
                   by: str, reason: str) -> Response:
    """Pause, resume or cancel; refused changes are audited too (an unknown or ended one)."""
    try:
        if action == "cancel":
            rollout = await manager.cancel(rollout_id, by, reason)
        else:
            rollout = await manager.pause(rollout_id, by, action == "pause", reason)
    except TargetError as exc:
        await manager.refused(rollout_id, "", "", by, f"{action}: {exc}")
        raise HTTPException(404, str(exc)) from exc
    except InputError as exc:
        await manager.refused(rollout_id, "", "", by, f"{action}: {exc}")
        raise HTTPException(409, str(exc)) from exc
    return done(request, "/rollouts", rollout.model_dump(mode="json"))


def rollouts_router() -> APIRouter:
    router = APIRouter()

    @router.get("/rollouts")
    @router.get("/rollouts.json")
    async def listing(request: Request,
                      actor: Annotated[Actor, Depends(need(Right.ROLLOUTS))]) -> Response:
        service = console_of(request).service
        return page(request, "rollouts.html", status(service.rollouts, service.reported))

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

    @router.post("/rollouts/cancel")
    @router.post("/rollouts/cancel.json")
    async def cancel(request: Request, actor: Annotated[Actor, Depends(need(Right.ROLLOUTS))],
                     rollout_id: RolloutId, reason: Reason = "") -> Response:
        return await _changed(request, console_of(request).service.rollouts, "cancel",
                              rollout_id, actor.name, reason.strip())

    @router.post("/rollouts/pause")
    @router.post("/rollouts/pause.json")
    async def pause(request: Request, actor: Annotated[Actor, Depends(need(Right.ROLLOUTS))],
                    rollout_id: RolloutId, reason: Reason = "",
                    resume: Annotated[bool, Form()] = False) -> Response:
        return await _changed(request, console_of(request).service.rollouts,
                              "resume" if resume else "pause", rollout_id, actor.name,
                              reason.strip())

    return router
