"""A staff console's ASGI app, composed: the sign-in routes and the console's own routers, the
CSRF check on every state-changing request, the security headers, static assets served by the
console itself (the shared stylesheet, and the console's own files), and the errors as pages or
as JSON."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from common.staff_web.headers import SecurityHeaders
from common.staff_web.render import HERE, page
from common.staff_web.signin import signin_router
from common.staff_web.web import (
    Forbidden,
    PasswordChangeNeeded,
    SignInNeeded,
    StaffConsole,
    csrf_guard,
    wants_json,
)


def _error(request: Request, status: int, message: str) -> Response:
    if wants_json(request) or request.url.path.endswith(".csv"):
        return JSONResponse({"detail": message}, status_code=status)
    return page(request, "error.html", {"status": status, "detail": message}, status=status)


def staff_app(console: StaffConsole, title: str, templates: Jinja2Templates,
              routers: Iterable[APIRouter], static: Path | None = None) -> FastAPI:
    """The app: sign-in, sign-out and password change, then `routers`; `static` (the console's
    own assets) is served under /static beside the shared ones."""
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(csrf_guard)])
    app.state.console = console
    app.state.templates = templates

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

    app.include_router(signin_router())
    for router in routers:
        app.include_router(router)
    shared = HERE / "static"
    app.mount("/static", StaticFiles(directory=static or shared,
                                     packages=[("common.staff_web", "static")] if static else None),
              name="static")
    app.add_middleware(SecurityHeaders)
    return app
