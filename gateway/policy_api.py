"""The policy part of the gateway's control API (included into `gateway.api.make_app`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from common.staff_identity import recorded_by
from gateway.caller_api import Caller
from gateway.policy_service import PolicyInputError, PolicyService
from gateway.refusals import NO_POLICY_YET
from wire.documents import DeviceId, Name
from wire.policy import ProfileName

MAX_WAIT_S = 600.0


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PolicyBody(_Body):
    rules: dict[str, Any]
    by: Name | None = None
    wait_s: Annotated[float, Field(ge=0, le=MAX_WAIT_S)] = 0.0
    base_version: int | None = None
    """If given, refuse (409) unless the current policy is still this version: two staff
    editing at once do not overwrite each other."""


class ProfileBody(_Body):
    devices: Annotated[list[DeviceId], Field(min_length=1, max_length=5000)]
    profile: ProfileName
    by: Name | None = None


class ManifestBody(_Body):
    app: str
    app_version: str
    entry: str
    args: list[str] = []
    files: dict[str, str]
    by: Name | None = None


def policy_router(policy: PolicyService) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/policy")
    async def show() -> dict[str, Any]:
        return policy.summary()

    @router.get("/v1/policy/decision")
    async def decision(profile: str = "standard", at: int | None = None) -> dict[str, Any]:
        schedule = policy.schedule()
        if schedule is None:
            raise HTTPException(404, NO_POLICY_YET)
        if policy.document is not None and profile not in policy.document.profiles:
            known = ", ".join(sorted(policy.document.profiles))
            raise HTTPException(404, f"no profile {profile!r} in the wing policy ({known})")
        now = policy.clock() if at is None else at
        answer = schedule.decide(profile, now)
        return {
            "at": now, "profile": profile, "state": answer.state, "label": answer.label,
            "starts_at": answer.starts_at, "ends_at": answer.ends_at,
            "next_boundary": answer.next_boundary,
            "apps": [{"app": a.app, "allowed": a.allowed, "reason": a.reason}
                     for a in answer.apps if a.listed],
        }

    @router.post("/v1/policy")
    async def apply(body: PolicyBody, caller: Caller) -> dict[str, Any]:
        current = policy.document.version if policy.document else 0
        if body.base_version is not None and body.base_version != current:
            raise HTTPException(
                409, f"the policy changed meanwhile (now version {current}): look again"
            )
        try:
            outcome = await policy.apply(body.rules, recorded_by(caller, body.by), body.wait_s)
        except PolicyInputError as exc:
            raise HTTPException(422, str(exc)) from exc
        return {
            "version": outcome.version, "hash": outcome.hash, "changed": outcome.changed,
            "targets": outcome.targets, "confirmed": outcome.confirmed,
            "pending": outcome.pending,
        }

    @router.post("/v1/profile")
    async def profile(body: ProfileBody, caller: Caller) -> dict[str, Any]:
        try:
            version = await policy.set_profile(list(dict.fromkeys(body.devices)),
                                                  body.profile, recorded_by(caller, body.by))
        except PolicyInputError as exc:
            raise HTTPException(422, str(exc)) from exc
        return {"devices": body.devices, "profile": body.profile, "version": version}

    @router.post("/v1/apps/manifest")
    async def sign_manifest(body: ManifestBody, caller: Caller) -> dict[str, Any]:
        fields = body.model_dump(exclude={"by"})
        try:
            envelope = await policy.sign_manifest(fields, recorded_by(caller, body.by))
        except PolicyInputError as exc:
            raise HTTPException(422, str(exc)) from exc
        return {"envelope": envelope.decode("utf-8")}

    return router
