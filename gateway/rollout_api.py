"""Control API routes for updates: start a rollout, see where every tablet stands."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from common.staff_identity import recorded_by
from gateway.caller_api import Caller
from gateway.fleet import InputError, TargetError
from gateway.rollout import Rollout
from gateway.rollout_service import RolloutManager
from wire.documents import DeviceId, Millis, Name, UpdateTarget


class RolloutBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")]
    target: str
    version: str
    canary: Annotated[list[DeviceId], Field(min_length=1, max_length=5000)]
    rest: Annotated[list[DeviceId], Field(max_length=5000)] = []
    rest_wing: bool = False
    """The rest is every other tablet of the wing."""
    max_failure_share: Annotated[float, Field(ge=0.0, le=1.0)] = 0.2
    window_start: Millis | None = None
    window_end: Millis | None = None
    by: Name | None = None


class ChangeBody(BaseModel):
    """Cancel, pause or resume a rollout: who, and (for a cancel) why."""

    model_config = ConfigDict(extra="forbid")

    by: Name | None = None
    """A note: the audit records the caller's OS account."""
    reason: Annotated[str, Field(max_length=500)] = ""


def rollout_router(manager: RolloutManager) -> APIRouter:
    router = APIRouter()

    async def refuse(body: RolloutBody, by: str, status: int, error: str) -> HTTPException:
        await manager.refused(body.id, body.target, body.version, by, error)
        return HTTPException(status, error)

    @router.post("/v1/rollouts")
    async def start(body: RolloutBody, caller: Caller) -> dict[str, Any]:
        by = recorded_by(caller, body.by)
        try:
            UpdateTarget(target=body.target, version=body.version)
        except ValueError as exc:
            raise await refuse(body, by, 422, f"target/version: {_first(exc)}") from exc
        if body.window_start is not None and body.window_end is not None \
                and body.window_end <= body.window_start:
            raise await refuse(body, by, 422, "window_end must be after window_start")
        rest = list(body.rest)
        if body.rest_wing:
            rest = sorted(set(manager.wing_tablets()) - set(body.canary))
        rollout = Rollout(id=body.id, target=body.target, version=body.version,
                          canary=tuple(body.canary), rest=tuple(rest),
                          max_failure_share=body.max_failure_share,
                          window_start=body.window_start, window_end=body.window_end, by=by)
        try:
            result = await manager.start(rollout)
        except TargetError as exc:
            raise await refuse(body, by, 404, str(exc)) from exc
        except InputError as exc:
            raise await refuse(body, by, 422, str(exc)) from exc
        return result.rollout.model_dump(mode="json")

    @router.post("/v1/rollouts/{rollout_id}/cancel")
    async def cancel(rollout_id: str, body: ChangeBody, caller: Caller) -> dict[str, Any]:
        by = recorded_by(caller, body.by)
        return (await _changed(manager.cancel(rollout_id, by, body.reason))
                ).model_dump(mode="json")

    @router.post("/v1/rollouts/{rollout_id}/pause")
    async def pause(rollout_id: str, body: ChangeBody, caller: Caller) -> dict[str, Any]:
        by = recorded_by(caller, body.by)
        return (await _changed(manager.pause(rollout_id, by, True, body.reason))
                ).model_dump(mode="json")

    @router.post("/v1/rollouts/{rollout_id}/resume")
    async def resume(rollout_id: str, body: ChangeBody, caller: Caller) -> dict[str, Any]:
        by = recorded_by(caller, body.by)
        return (await _changed(manager.pause(rollout_id, by, False, body.reason))
                ).model_dump(mode="json")

    @router.get("/v1/updates")
    async def updates() -> dict[str, Any]:
        return manager.status()

    return router


async def _changed(change: Awaitable[Rollout]) -> Rollout:
    """A staff change to a rollout, its refusals as the API's errors."""
    try:
        return await change
    except TargetError as exc:
        raise HTTPException(404, str(exc)) from exc
    except InputError as exc:
        raise HTTPException(409, str(exc)) from exc


def _first(exc: ValueError) -> str:
    text = str(exc).splitlines()
    return re.sub(r"\s+", " ", text[2] if len(text) > 2 else text[0]).strip()
