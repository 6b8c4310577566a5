"""The accounts part of the control API (the Unix socket), for `cellbridge staff account` on the
gateway host: make the first admin, disable, reset a lost factor, list. Audited as the caller's OS
account (`gateway.caller_api`: the socket's peer credentials); a typed `by` is only a note."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from common.staff_identity import recorded_by
from common.staff_web.accounts import AccountBook, AccountError
from common.staff_web.roles import Role
from common.staff_web.sessions import Sessions
from gateway.caller_api import Caller
from gateway.store_thread import StoreThread
from wire.documents import Name


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: Name | None = None
    """A note: the audit records the caller's OS account."""


class AddBody(_Body):
    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9._-]{0,31}$")]
    display: Annotated[str, Field(min_length=1, max_length=120)]
    roles: Annotated[list[Role], Field(min_length=1, max_length=4)]


def accounts_router(book: AccountBook, sessions: Sessions, io: StoreThread,
                    clock: Callable[[], int]) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/accounts")
    async def listing() -> list[dict[str, Any]]:
        return [a.as_json() for a in await io(book.accounts)]

    @router.post("/v1/accounts")
    async def add(body: AddBody, caller: Caller) -> dict[str, Any]:
        try:
            enrolment = await io(book.add, body.name, body.display, frozenset(body.roles),
                                 f"staff:{recorded_by(caller, body.by)}", clock())
        except AccountError as exc:
            raise HTTPException(409, str(exc)) from exc
        return {"name": enrolment.name, "password": enrolment.password,
                "totp_uri": enrolment.totp_uri}

    @router.post("/v1/accounts/{name}/reset")
    async def reset(name: str, body: _Body, caller: Caller) -> dict[str, Any]:
        try:
            enrolment = await io(book.reset, name, f"staff:{recorded_by(caller, body.by)}",
                                 clock())
        except AccountError as exc:
            raise HTTPException(404, str(exc)) from exc
        sessions.end_account(name)
        return {"name": enrolment.name, "password": enrolment.password,
                "totp_uri": enrolment.totp_uri}

    @router.post("/v1/accounts/{name}/disable")
    async def disable(name: str, body: _Body, caller: Caller) -> dict[str, Any]:
        try:
            account = await io(book.set_disabled, name, True,
                               f"staff:{recorded_by(caller, body.by)}", clock())
        except AccountError as exc:
            raise HTTPException(404, str(exc)) from exc
        sessions.end_account(name)
        return account.as_json()

    return router
