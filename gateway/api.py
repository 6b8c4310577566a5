"""The gateway's control API (FastAPI over a Unix socket): what the staff CLI and the console use.

Errors are 4xx with a one-line `detail`, so a CLI can print them as they are.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from common.staff_identity import recorded_by
from gateway.approvals_api import approvals_router, ask_to_lift, outcome_json
from gateway.caller_api import Caller
from gateway.config import Place
from gateway.desired import LockRequest
from gateway.fleet import InputError, Selector, TargetError
from gateway.jobs_api import jobs_router
from gateway.policy_api import policy_router
from gateway.prisoners_api import prisoners_router
from gateway.refusals import install, known_names
from gateway.requests_api import requests_router
from gateway.rollout_api import rollout_router
from gateway.service import GatewayService
from gateway.store import Audit, DiskFull, Tablet, is_disk_full
from gateway.web_api import web_router
from wire.documents import DeviceId, Name, ShortText

MAX_WAIT_S = 600.0


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LockBody(_Body):
    devices: Annotated[list[DeviceId], Field(max_length=5000)] | None = None
    cell: Place | None = None
    landing: Place | None = None
    wing: bool = False
    locked: bool
    reason: ShortText
    by: Name | None = None
    """A note: the audit records the caller's OS account (`gateway.caller_api`)."""
    wait_s: Annotated[float, Field(ge=0, le=MAX_WAIT_S)] = 0.0

    @model_validator(mode="after")
    def one_selector(self) -> LockBody:
        chosen = [self.devices is not None, self.cell is not None, self.landing is not None,
                  self.wing]
        if sum(chosen) != 1:
            raise ValueError("give exactly one of devices, cell, landing or wing")
        if self.devices is not None and not self.devices:
            raise ValueError("devices is empty")
        return self


class RegisterBody(_Body):
    id: DeviceId
    cell: Place
    landing: Place
    by: Name | None = None


class Problem(BaseModel):
    """Every error answer: one line for the CLI to print as it is."""

    detail: str


ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem} for status in (403, 404, 409, 422, 507)
}
"""The error answers any route may give, in the schema (FastAPI's default 422 is a list)."""


def _one_line(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{where}: {message}" if where else message


def make_app(service: GatewayService, anonymous: str | None = None) -> FastAPI:
    """The API over `service`. Every change is recorded as done by the caller's OS account,
    known from the Unix socket; `anonymous` is the account for a caller that came some other way
    (in-process tests), None to refuse them (403)."""
    names = known_names(lambda: service.tablets, lambda: service.prisoners.people)
    app = FastAPI(title="Cellbridge wing gateway", docs_url=None, redoc_url=None,
                  responses=ERRORS, dependencies=[Depends(names)])
    app.state.anonymous = anonymous

    async def append(entry: Audit) -> None:
        await service.io(service.store.append, entry)

    install(app, append, service.clock, _one_line)

    @app.exception_handler(DiskFull)
    async def disk_full(_request: Request, exc: DiskFull) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=507)

    @app.exception_handler(OSError)
    async def no_space(_request: Request, exc: OSError) -> JSONResponse:
        if not is_disk_full(exc):
            raise exc
        return JSONResponse({"detail": str(DiskFull())}, status_code=507)

    @app.post("/v1/lock", response_model=None, responses={202: {
        "description": "Lifting the wing lockdown waits for a second person (two-person rule)"}})
    async def lock(body: LockBody, caller: Caller) -> dict[str, Any] | Response:
        if body.wing and not body.locked:
            return JSONResponse(await ask_to_lift(service, caller, body.reason), status_code=202)
        selector = Selector(
            devices=tuple(body.devices or ()), cell=body.cell, landing=body.landing,
            wing=body.wing,
        )
        try:
            request = LockRequest(body.locked, recorded_by(caller, body.by), body.reason)
            outcome = await service.lock(selector, request, body.wait_s)
        except TargetError as exc:
            raise HTTPException(404, str(exc)) from exc
        except InputError as exc:
            raise HTTPException(422, str(exc)) from exc
        return outcome_json(outcome)

    @app.get("/v1/health")
    async def health() -> dict[str, Any]:
        return {"wing": service.config.wing, "broker_connected": service.connected.is_set(),
                "tablets": len(service.tablets), "broker": service.broker_view()}

    @app.get("/v1/tablets")
    async def tablets() -> list[dict[str, Any]]:
        return service.tablet_views()

    @app.post("/v1/tablets")
    async def register(body: RegisterBody, caller: Caller) -> dict[str, Any]:
        changed = await service.register(Tablet(body.id, body.cell, body.landing),
                                         recorded_by(caller, body.by))
        return {"id": body.id, "cell": body.cell, "landing": body.landing, "changed": changed}

    @app.get("/v1/audit")
    async def audit(verify: bool = False,
                    limit: Annotated[int | None, Query(ge=1, le=2**62)] = None
                    ) -> dict[str, Any]:
        result: dict[str, Any] = {
            "entries": [e.as_json() for e in await service.audit_entries(limit)]
        }
        if verify:
            check = await service.verify_audit()
            result["verify"] = {"ok": check.ok, "entries": check.entries,
                                "broken_at": check.broken_at, "problem": check.problem}
        return result

    app.include_router(rollout_router(service.rollouts))
    app.include_router(policy_router(service.policy))
    app.include_router(requests_router(service.requests))
    app.include_router(web_router(service.web, service.browsing))
    app.include_router(jobs_router(service.jobs))
    app.include_router(approvals_router(service))
    app.include_router(prisoners_router(service.prisoners))
    return app
