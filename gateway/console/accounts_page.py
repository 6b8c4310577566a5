"""The accounts page (admin): list, add (one-time password and TOTP enrolment shown once),
disable or enable, reset a lost factor. Every change audited with the admin's name."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from common.staff_web.accounts import AccountError, Enrolment
from common.staff_web.qr import qr_data_uri
from common.staff_web.render import done, page
from common.staff_web.roles import Role, parse_roles
from gateway.console.rights import Right
from gateway.console.web import Actor, Console, console_of, need

NamePattern = r"^[a-z][a-z0-9._-]{0,31}$"


def enrolment_json(enrolment: Enrolment) -> dict[str, object]:
    return {"name": enrolment.name, "password": enrolment.password,
            "totp_uri": enrolment.totp_uri,
            "qr": qr_data_uri(enrolment.totp_uri) if enrolment.totp_uri else None}


async def _listing(console: Console) -> list[dict[str, object]]:
    return [a.as_json() for a in await console.io(console.book.accounts)]


def accounts_router() -> APIRouter:
    router = APIRouter()

    @router.get("/accounts")
    @router.get("/accounts.json")
    async def listing(request: Request,
                      actor: Annotated[Actor, Depends(need(Right.ACCOUNTS))]) -> Response:
        console = console_of(request)
        return page(request, "accounts.html", {"accounts": await _listing(console),
                                               "roles": [r.value for r in Role]})

    @router.post("/accounts")
    @router.post("/accounts.json")
    async def add(request: Request, actor: Annotated[Actor, Depends(need(Right.ACCOUNTS))],
                  name: Annotated[str, Form(pattern=NamePattern)],
                  display: Annotated[str, Form(min_length=1, max_length=120)],
                  roles: Annotated[list[str], Form(max_length=4)]) -> Response:
        console = console_of(request)
        try:
            chosen = parse_roles(",".join(roles))
            enrolment = await console.io(console.book.add, name, display, chosen, actor.label,
                                         console.clock())
        except (ValueError, AccountError) as exc:
            raise HTTPException(422, str(exc)) from exc
        data = {"accounts": await _listing(console), "roles": [r.value for r in Role],
                "enrolment": enrolment_json(enrolment)}
        return page(request, "accounts.html", data)

    @router.post("/accounts/{name}/reset")
    @router.post("/accounts/{name}/reset.json")
    async def reset(request: Request, name: str,
                    actor: Annotated[Actor, Depends(need(Right.ACCOUNTS))]) -> Response:
        console = console_of(request)
        try:
            enrolment = await console.io(console.book.reset, name, actor.label, console.clock())
        except AccountError as exc:
            raise HTTPException(404, str(exc)) from exc
        console.sessions.end_account(name)
        data = {"accounts": await _listing(console), "roles": [r.value for r in Role],
                "enrolment": enrolment_json(enrolment)}
        return page(request, "accounts.html", data)

    @router.post("/accounts/{name}/disable")
    @router.post("/accounts/{name}/disable.json")
    @router.post("/accounts/{name}/enable")
    @router.post("/accounts/{name}/enable.json")
    async def disable(request: Request, name: str,
                      actor: Annotated[Actor, Depends(need(Right.ACCOUNTS))]) -> Response:
        console = console_of(request)
        disabled = not request.url.path.removesuffix(".json").endswith("/enable")
        if disabled and name == actor.name:
            raise HTTPException(409, "you cannot disable your own account")
        try:
            account = await console.io(console.book.set_disabled, name, disabled, actor.label,
                                       console.clock())
        except AccountError as exc:
            raise HTTPException(404, str(exc)) from exc
        if disabled:
            console.sessions.end_account(name)
        return done(request, "/accounts", account.as_json())

    return router
