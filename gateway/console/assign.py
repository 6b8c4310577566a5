"""Who may be given a prisoner's request: an enabled staff account whose roles answer requests.
Checked for the console's inbox and for `cellbridge staff requests assign` (the control API)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field

from common.staff_identity import recorded_by
from common.staff_web.accounts import AccountBook
from gateway.caller_api import Caller
from gateway.console.rights import Right, allowed
from gateway.requests import RequestDesk, UnknownRequest
from gateway.store_thread import StoreThread
from wire.documents import Name


def assignee_problem(book: AccountBook, name: str) -> str | None:
    """Why `name` cannot be given a request, None if it can."""
    account = book.get(name)
    if account is None:
        return f"no staff account {name!r}"
    if account.disabled:
        return f"the account {name} is disabled"
    if not allowed(account.roles, Right.ANSWER_REQUESTS):
        return f"the account {name} does not answer requests"
    return None


class AssignBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: Annotated[str | None, Field(max_length=32)] = None
    """The staff account; None takes the request back."""
    by: Name | None = None


def assign_router(book: AccountBook, desk: RequestDesk, io: StoreThread) -> APIRouter:
    """`POST /v1/requests/ID/assign` on the control API."""
    router = APIRouter()

    @router.post("/v1/requests/{request_id}/assign")
    async def assign(request_id: str, body: AssignBody, caller: Caller) -> dict[str, Any]:
        if body.to is not None:
            problem = await io(assignee_problem, book, body.to)
            if problem:
                raise HTTPException(422, problem)
        try:
            return await desk.assign(request_id, body.to, recorded_by(caller, body.by))
        except UnknownRequest as exc:
            raise HTTPException(404, str(exc)) from exc

    return router
