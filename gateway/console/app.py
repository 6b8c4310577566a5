"""The console, composed: its parts (`build_console`) and its ASGI app (`make_console_app`): the
page families' routers, the CSRF check on every state-changing request, the security headers,
static assets served by the gateway itself, and the errors as pages or as JSON."""

from __future__ import annotations

from argon2 import PasswordHasher
from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from gateway.console.accounts import PRODUCTION_HASHER, AccountBook
from gateway.console.accounts_page import accounts_router
from gateway.console.approvals import approvals_router
from gateway.console.audit_page import audit_router
from gateway.console.curfew import curfew_router
from gateway.console.headers import SecurityHeaders
from gateway.console.inbox import inbox_router
from gateway.console.inventory import inventory_router
from gateway.console.jobs import LockJobs
from gateway.console.policy_page import policy_router
from gateway.console.prisoners_page import prisoners_page_router
from gateway.console.render import HERE, page
from gateway.console.rollouts import rollouts_router
from gateway.console.sessions import Sessions
from gateway.console.signin import signin_router
from gateway.console.tablet import tablet_router
from gateway.console.web import (
    Console,
    Forbidden,
    PasswordChangeNeeded,
    SignInNeeded,
    csrf_guard,
    wants_json,
)
from gateway.console.web_grants_page import web_grants_router
from gateway.console.wing import wing_router
from gateway.service import GatewayService


def build_console(service: GatewayService, hasher: PasswordHasher = PRODUCTION_HASHER) -> Console:
    """The console's parts over a gateway service (its accounts table is made if missing);
    `hasher` is for the in-process tests only: every gateway keeps the production one."""
    return Console(service=service, book=AccountBook(service.store, hasher), sessions=Sessions(),
                   jobs=LockJobs(service.tablet_views, service.clock),
                   clock=service.clock)


def _error(request: Request, status: int, message: str) -> Response:
    if wants_json(request) or request.url.path.endswith(".csv"):
        return JSONResponse({"detail": message}, status_code=status)
    return page(request, "error.html", {"status": status, "detail": message}, status=status)


def make_console_app(console: Console) -> FastAPI:
    app = FastAPI(title="Cellbridge staff console", docs_url=None, redoc_url=None,
                  openapi_url=None, dependencies=[Depends(csrf_guard)])
    app.state.console = console

    @app.exception_handler(SignInNeeded)
    async def sign_in_needed(request: Request, _exc: SignInNeeded) -> Response:
        if wants_json(request) or request.method != "GET":
            return JSONResponse({"detail": "sign in first"}, status_code=401)
        return RedirectResponse("/signin", status_code=303)

    @app.exception_handler(PasswordChangeNeeded)
    async def change_needed(request: Request, _exc: PasswordChangeNeeded) -> Response:
        if wants_json(request) or request.method != "GET":
            return JSONResponse({"detail": "change your one-time password first"},
                                status_code=403)
        return RedirectResponse("/password", status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return _error(request, 403, exc.message)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        return _error(request, exc.status_code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {}
        where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("body", "query"))
        message = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
        return _error(request, 422, f"{where}: {message}" if where else message)

    for router in (signin_router(), wing_router(), tablet_router(), audit_router(),
                   inbox_router(), accounts_router(), approvals_router(), curfew_router(),
                   policy_router(), rollouts_router(), web_grants_router(),
                   inventory_router(), prisoners_page_router()):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(SecurityHeaders)
    return app
