"""The requests part of the gateway's control API (included into `gateway.api.make_app`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict

from common.staff_identity import recorded_by
from gateway.caller_api import Caller
from gateway.requests import ReplyError, RequestDesk, UnknownRequest
from wire.documents import Name
from wire.requests import RequestText


class ReplyBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: RequestText
    by: Name | None = None


def requests_router(desk: RequestDesk) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/requests")
    async def listing(device: str | None = None) -> list[dict[str, Any]]:
        return await desk.listing(device)

    @router.post("/v1/requests/{request_id}/reply")
    async def reply(request_id: str, body: ReplyBody, caller: Caller) -> dict[str, Any]:
        try:
            return await desk.reply(request_id, body.text, recorded_by(caller, body.by))
        except UnknownRequest as exc:
            raise HTTPException(404, str(exc)) from exc
        except ReplyError as exc:
            raise HTTPException(409, str(exc)) from exc

    return router
