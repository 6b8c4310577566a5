"""The web allow-list part of the gateway's control API (included into `gateway.api.make_app`):
grants, approvals, revocations, the decision (for staff checking a site) and the browsing record.

Who grants, approves or revokes is the caller's OS account (`gateway.caller_api.Caller`, from the
socket's peer credentials); a typed `by` is kept only as a note beside it. A sensitive site's
second approver must be a different OS account, whatever either of them typed."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.staff_identity import recorded_by
from gateway.caller_api import Caller
from gateway.web_grants import GrantInputError, UnknownGrant, WebAccess
from gateway.web_log import BrowsingRecord
from wire.documents import DeviceId, Name, ShortText
from wire.policy import SiteName
from wire.prisoners import PrisonNumber


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class GrantBody(_Body):
    device: DeviceId | None = None
    prisoner: PrisonNumber | None = None
    """Exactly one of `device` (the tablet's grant) and `prisoner` (the person's, wherever they
    sign in)."""
    site: SiteName
    purpose: Annotated[str, Field(min_length=1, max_length=200)]
    until: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]
    by: Name | None = None
    """A note: the audit records the caller's OS account."""

    @model_validator(mode="after")
    def _one_subject(self) -> GrantBody:
        if (self.device is None) == (self.prisoner is None):
            raise ValueError("give exactly one of device or prisoner")
        return self


class ApproveBody(_Body):
    by: Name | None = None
    """A note: who approves is the caller's OS account."""


class RevokeBody(_Body):
    by: Name | None = None
    reason: ShortText = ""


async def _answer(change: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    """A staff change's result; 404 for an unknown grant, 409 for one refused as asked."""
    try:
        return await change
    except UnknownGrant as exc:
        raise HTTPException(404, str(exc)) from exc
    except GrantInputError as exc:
        raise HTTPException(409, str(exc)) from exc


def web_router(web: WebAccess, record: BrowsingRecord) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/web/grants")
    async def grants(device: str | None = None, prisoner: str | None = None
                     ) -> list[dict[str, Any]]:
        if prisoner is not None:
            return web.listing(prisoner, "prisoner")
        return web.listing(device)

    @router.post("/v1/web/grants")
    async def grant(body: GrantBody, caller: Caller) -> dict[str, Any]:
        kind, subject = ("tablet", body.device) if body.device else ("prisoner", body.prisoner)
        if subject is None:
            raise HTTPException(422, "name a tablet (device) or a prisoner")
        return await _answer(web.grant(subject, body.site, body.purpose, body.until,
                                       recorded_by(caller, body.by), f"os:{caller}", kind))

    @router.post("/v1/web/grants/{grant_id}/approve")
    async def approve(grant_id: str, body: ApproveBody, caller: Caller) -> dict[str, Any]:
        return await _answer(web.approve(grant_id, recorded_by(caller, body.by), f"os:{caller}"))

    @router.post("/v1/web/grants/{grant_id}/revoke")
    async def revoke(grant_id: str, body: RevokeBody, caller: Caller) -> dict[str, Any]:
        return await _answer(web.revoke(grant_id, recorded_by(caller, body.by), body.reason))

    @router.get("/v1/web/decide")
    async def decision(device: str, host: str) -> dict[str, Any]:
        answer = web.decide(device, host)
        return {"device": device, "host": answer.host or host, "allowed": answer.allowed,
                "reason": answer.reason, "site": answer.site, "until": answer.until}

    @router.get("/v1/web/sites")
    async def sites(device: str) -> list[dict[str, Any]]:
        return web.sites(device)

    @router.get("/v1/web/log")
    async def log(device: str | None = None, since: Annotated[int, Field(ge=0)] = 0,
                  limit: Annotated[int, Field(ge=1, le=10_000)] = 1000) -> list[dict[str, Any]]:
        return await record.listing(device, since, limit)

    return router
