"""One-off jobs in the gateway's control API (included into `gateway.api.make_app`): ask for a
wipe or a reboot, approve a wipe, list and show jobs.

Who asks and who approves is the caller's OS account (`gateway.caller_api.Caller`, from the
socket's peer credentials); a typed `by` is only a note beside it. A wipe's approver must be a
different OS account, whatever either of them typed."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from common.staff_identity import recorded_by
from gateway.caller_api import Caller
from gateway.job_desk import JobDesk, JobInputError, UnknownJob
from wire.documents import DeviceId, Name


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobBody(_Body):
    device: DeviceId
    kind: Literal["wipe", "reboot"]
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    by: Name | None = None
    """A note: the audit records the caller's OS account."""


class ApproveBody(_Body):
    by: Name | None = None
    """A note: who approves is the caller's OS account."""


async def _answer(change: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """404 for an unknown job or tablet, 409 for a change refused as asked."""
    try:
        return await change
    except UnknownJob as exc:
        raise HTTPException(404, str(exc)) from exc
    except JobInputError as exc:
        raise HTTPException(409, str(exc)) from exc


def jobs_router(jobs: JobDesk) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/jobs")
    async def listing(device: str | None = None) -> list[dict[str, Any]]:
        return await jobs.listing(device)

    @router.get("/v1/jobs/{job_id}")
    async def show(job_id: str) -> dict[str, Any]:
        return await _answer(jobs.get(job_id))

    @router.post("/v1/jobs")
    async def ask(body: JobBody, caller: Caller) -> dict[str, Any]:
        return await _answer(jobs.request(
            body.device, body.kind, body.reason, recorded_by(caller, body.by), f"os:{caller}"))

    @router.post("/v1/jobs/{job_id}/approve")
    async def approve(job_id: str, body: ApproveBody, caller: Caller) -> dict[str, Any]:
        return await _answer(jobs.approve(
            job_id, recorded_by(caller, body.by), f"os:{caller}"))

    return router
