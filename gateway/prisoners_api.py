"""The prisoner-accounts part of the gateway's control API (included into `gateway.api.make_app`):
records, moves, releases and transfers, one-time codes, the nightly roll. Who acted is the
caller's OS account (`gateway.caller_api`), with any `by` kept as a note beside it."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from common.staff_identity import recorded_by
from gateway.caller_api import Caller
from gateway.config import Place
from gateway.prisoner_book import Prisoner
from gateway.prisoner_roll import NAME_MAX, ROLL_MAX_BYTES, is_day
from gateway.prisoners import PrisonerInputError, Prisoners, UnknownPrisoner
from wire.documents import Name, ShortText
from wire.prisoners import Language, PrisonNumber

Day = Annotated[str, StringConstraints(pattern=r"^(\d{4}-\d{2}-\d{2})?$")]
ProfileName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
PersonName = Annotated[str, StringConstraints(min_length=1, max_length=NAME_MAX,
                                              pattern=r"^[^\x00-\x1f\x7f]*\S[^\x00-\x1f\x7f]*$")]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")

    by: Name | None = None
    """A note: the audit records the caller's OS account."""


class AddBody(_Body):
    number: PrisonNumber
    name: PersonName
    cell: Place
    language: Language = "en"
    profile: ProfileName = "standard"
    release_date: Day = ""

    @model_validator(mode="after")
    def _real_day(self) -> AddBody:
        if self.release_date and not is_day(self.release_date):
            raise ValueError("release_date: not a real day YYYY-MM-DD")
        return self


class MoveBody(_Body):
    cell: Place


class LeaveBody(_Body):
    reason: ShortText = ""


class ImportBody(_Body):
    csv: Annotated[str, Field(max_length=ROLL_MAX_BYTES)]
    dry_run: bool = False
    skip_bad: bool = False


async def _answer(change: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    try:
        return await change
    except UnknownPrisoner as exc:
        raise HTTPException(404, str(exc)) from exc
    except PrisonerInputError as exc:
        raise HTTPException(409, str(exc)) from exc


def prisoners_router(desk: Prisoners) -> APIRouter:
    router = APIRouter()

    @router.get("/v1/prisoners")
    async def listing(status: Literal["in_cell", "released", "transferred"] | None = None
                      ) -> list[dict[str, Any]]:
        return desk.listing(status)

    @router.get("/v1/prisoners/{number}")
    async def show(number: str) -> dict[str, Any]:
        try:
            return desk.show(number)
        except UnknownPrisoner as exc:
            raise HTTPException(404, str(exc)) from exc

    @router.post("/v1/prisoners")
    async def add(body: AddBody, caller: Caller) -> dict[str, Any]:
        person = Prisoner(number=body.number, name=" ".join(body.name.split()),
                          language=body.language, profile=body.profile, cell=body.cell,
                          release_date=body.release_date)
        return await _answer(desk.add(person, recorded_by(caller, body.by)))

    @router.post("/v1/prisoners/{number}/move")
    async def move(number: str, body: MoveBody, caller: Caller) -> dict[str, Any]:
        return await _answer(desk.move(number, body.cell, recorded_by(caller, body.by)))

    @router.post("/v1/prisoners/{number}/release")
    async def release(number: str, body: LeaveBody, caller: Caller) -> dict[str, Any]:
        return await _answer(desk.leave(number, "released", recorded_by(caller, body.by),
                                        body.reason))

    @router.post("/v1/prisoners/{number}/transfer")
    async def transfer(number: str, body: LeaveBody, caller: Caller) -> dict[str, Any]:
        return await _answer(desk.leave(number, "transferred", recorded_by(caller, body.by),
                                        body.reason))

    @router.post("/v1/prisoners/{number}/reset-pin")
    async def reset_pin(number: str, body: _Body, caller: Caller) -> dict[str, Any]:
        return await _answer(desk.reset_pin(number, recorded_by(caller, body.by)))

    @router.post("/v1/prisoners/import")
    async def import_roll(body: ImportBody, caller: Caller) -> dict[str, Any]:
        return await _answer(desk.import_roll(body.csv, recorded_by(caller, body.by),
                                              dry_run=body.dry_run, skip_bad=body.skip_bad))

    return router
