"""Sign-in (password, and a TOTP code where the roles need one), sign-out, and the change of a
one-time password. Signing in always starts a new session (the old id is ended)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, Response

from common.staff_web.accounts import AccountError
from common.staff_web.render import done, page
from common.staff_web.sessions import Session
from common.staff_web.web import (
    COOKIE,
    Actor,
    session_of,
    signed_in_any,
)
from common.staff_web.web import (
    staff_console_of as console_of,
)

REFUSED = "Sign-in refused: the name, password or code is not right, or the account is locked."


def set_cookie(response: Response, session: Session) -> None:
    response.set_cookie(COOKIE, session.id, secure=True, httponly=True, samesite="strict",
                        path="/")


def signin_router() -> APIRouter:
    router = APIRouter()

    @router.get("/signin")
    @router.get("/signin.json")
    async def form(request: Request) -> Response:
        console = console_of(request)
        session = session_of(request) or console.sessions.new(None, console.clock())
        response = page(request, "signin.html", {"csrf": session.csrf}, csrf=session.csrf)
        set_cookie(response, session)
        return response

    @router.post("/signin")
    @router.post("/signin.json")
    async def sign_in(request: Request, name: Annotated[str, Form(max_length=64)],
                      password: Annotated[str, Form(max_length=256)],
                      code: Annotated[str, Form(max_length=12)] = "") -> Response:
        console = console_of(request)
        old = session_of(request)
        result = await console.io(console.book.sign_in, name.strip(), password, code.strip(),
                                  console.clock())
        if result.account is None:
            return page(request, "signin.html", {"ok": False, "error": REFUSED},
                        status=401, error=REFUSED, csrf=old.csrf if old else "")
        if old is not None:
            console.sessions.end(old.id)
        session = console.sessions.new(result.account.name, console.clock())
        to = "/password" if result.account.must_change else "/"
        response = done(request, to, {"ok": True, "account": result.account.as_json(),
                                      "csrf": session.csrf})
        set_cookie(response, session)
        return response

    @router.post("/signout")
    @router.post("/signout.json")
    async def sign_out(request: Request) -> Response:
        console = console_of(request)
        session = session_of(request)
        if session is not None:
            console.sessions.end(session.id)
            if session.account is not None:
                await console.io(console.book.signed_out, session.account, console.clock())
        response = done(request, "/signin", {"ok": True})
        response.delete_cookie(COOKIE, secure=True, httponly=True, samesite="strict", path="/")
        return response

    @router.get("/session.json")
    async def whoami(actor: Annotated[Actor, Depends(signed_in_any)]) -> Response:
        return JSONResponse({"account": actor.account.as_json(), "csrf": actor.session.csrf,
                          "rights": sorted(actor.rights)})

    @router.get("/password")
    @router.get("/password.json")
    async def password_form(request: Request,
                            actor: Annotated[Actor, Depends(signed_in_any)]) -> Response:
        return page(request, "password.html", {"must_change": actor.account.must_change})

    @router.post("/password")
    @router.post("/password.json")
    async def change(request: Request, actor: Annotated[Actor, Depends(signed_in_any)],
                     old: Annotated[str, Form(max_length=256)],
                     new: Annotated[str, Form(max_length=256)],
                     again: Annotated[str, Form(max_length=256)]) -> Response:
        console = console_of(request)
        try:
            if new != again:
                raise AccountError("the two new passwords differ")
            await console.io(console.book.change_password, actor.name, old, new,
                             console.clock())
        except AccountError as exc:
            return page(request, "password.html", {"ok": False, "error": str(exc),
                                                   "must_change": actor.account.must_change},
                        status=422, error=str(exc))
        return done(request, "/", {"ok": True})

    return router

