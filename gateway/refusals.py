"""Refusals at the control API are audited, and unknown names are refusals everywhere.

Every 4xx answer the API gives — an unknown tablet, prisoner, job, grant, request or rollout, a
change refused as asked, a body that does not validate — appends one `api_refused` entry to the
audit chain naming the caller's OS account, the route and the one-line reason. Routes whose
feature audits its own refusals under its own name (`lock_refused`, `rollout_refused`,
`policy_refused`, `profile_refused`, `app_sign_refused`, `prisoner_import_refused`) are not
audited twice, and "no wing policy yet" on a read is an answer, not a refusal.

A `device` or `prisoner` named in a query string must exist: a listing of an unknown tablet's
requests, jobs, grants or browsing record is a 404, never an empty list (`known_names`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Collection, Coroutine
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway.caller_api import caller_account
from gateway.store import Audit, DiskFull

ANY = frozenset(range(400, 500))
SELF_AUDITED: dict[tuple[str, str], frozenset[int]] = {
    ("POST", "/v1/lock"): ANY, ("POST", "/v1/rollouts"): ANY, ("POST", "/v1/policy"): ANY,
    ("POST", "/v1/profile"): ANY, ("POST", "/v1/apps/manifest"): ANY,
    ("POST", "/v1/prisoners/import"): ANY,
    ("POST", "/v1/jobs/{job_id}/approve"): frozenset({409}),  # `wipe_approve_refused`
}
"""Routes (as declared) whose refusals with these statuses their feature audits itself."""
NO_POLICY_YET = "no wing policy has been applied yet"
"""A read's 404 that is an answer, not a refusal: `staff status` asks for the curfew each time."""
DETAIL_MAX = 500

AuditFn = Callable[[Audit], Coroutine[Any, Any, None]]


def _caller(request: Request) -> str:
    try:
        return f"staff:os:{caller_account(request)}"
    except HTTPException:
        return "unknown"


def audited(request: Request, status: int, detail: str) -> bool:
    """Whether a feature's refusal of `request` with `status` and `detail` is audited here."""
    declared = getattr(request.scope.get("route"), "path", request.url.path)
    if status in SELF_AUDITED.get((request.method, declared), ()):
        return False
    return not (request.method == "GET" and status == 404 and detail == NO_POLICY_YET)


def install(app: FastAPI, audit: AuditFn, clock: Callable[[], int],
            one_line: Callable[[RequestValidationError], str]) -> None:
    """Audit every refusal `app` answers with (see the module's docstring)."""

    async def record(request: Request, status: int, detail: str, *, checked: bool) -> None:
        """`checked`: the feature saw the request (it may have audited its refusal itself)."""
        if not 400 <= status < 500 or (checked and not audited(request, status, detail)):
            return
        entry = Audit(clock(), _caller(request), "api_refused",
                      f"api:{request.method} {request.url.path}"[:200], {
                          "status": status, "detail": detail[:DETAIL_MAX],
                          "query": str(request.url.query)[:DETAIL_MAX]})
        with contextlib.suppress(DiskFull):  # the store audits its failed write with the next
            await audit(entry)

    @app.exception_handler(StarletteHTTPException)
    async def refused(request: Request, exc: StarletteHTTPException) -> Response:
        await record(request, exc.status_code, str(exc.detail), checked=True)
        return await http_exception_handler(request, exc)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        detail = one_line(exc)  # the body never reached a feature: audited here on any route
        await record(request, 422, detail, checked=False)
        return JSONResponse({"detail": detail}, status_code=422)


UNIDENTIFIED = "-"
"""The web log's name for connections no tablet certificate identified (`staff web log
--device -` lists them)."""


def known_names(tablets: Callable[[], Collection[str]],
                prisoners: Callable[[], Collection[str]]) -> Callable[[Request], None]:
    """An app-wide dependency: a `device` or `prisoner` in the query string names one the wing
    has, else 404 in words."""

    def check(request: Request) -> None:
        device = request.query_params.get("device")
        unidentified = device == UNIDENTIFIED and request.url.path == "/v1/web/log"
        if device is not None and not unidentified and device not in tablets():
            raise HTTPException(404, f"no tablet {device} in this wing (see `staff status`)")
        number = request.query_params.get("prisoner")
        if number is not None and number not in prisoners():
            raise HTTPException(404, f"no prisoner {number} on this wing "
                                "(see `staff prisoner list`)")

    return check
