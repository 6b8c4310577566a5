"""The prisoner pages (prisoner accounts, DESIGN §10; issue 16's console side): the list (filter by
landing, cell and status), a person's page (record, cell, status, web grants, requests, last
sign-in, lock-out) and the changes: add, move, release, transfer, reset a PIN, import the roll.

The console is one more client of the gateway's public face for prisoners (`gateway.prisoners`,
the same desk the control API and the staff CLI use), so a change does here exactly what it does
from the CLI (sessions ended, tablets re-issued, grants revoked, each step audited, naming the
account as `staff:<name>`). Seeing is `view_prisoners` (officer, security); changing is
`prisoners` (security): a reset hands out a credential. A reset's one-time code is shown once, on
the answer to the POST itself (never stored, never on a page one can reload). Names, cells and
reasons are shown as text (autoescaped templates).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, HTTPException, Path, Request
from fastapi.responses import Response
from pydantic import ValidationError

from common.staff_web.render import done, page
from gateway.console.rights import Right
from gateway.console.web import Actor, Console, console_of, need
from gateway.prisoner_book import STATUSES, Prisoner
from gateway.prisoner_roll import ROLL_MAX_BYTES
from gateway.prisoners import PrisonerInputError, UnknownPrisoner
from gateway.prisoners_api import AddBody
from wire.policy import REQUIRED_PROFILES
from wire.prisoners import LANGUAGES, PRISON_NUMBER_PATTERN

Viewer = Annotated[Actor, Depends(need(Right.VIEW_PRISONERS))]
Changer = Annotated[Actor, Depends(need(Right.PRISONERS))]
Number = Annotated[str, Path(pattern=rf"^{PRISON_NUMBER_PATTERN}$")]
Text = Annotated[str, Form(max_length=500)]


def _landings(console: Console) -> dict[str, str]:
    """Cell → landing, as the wing list says."""
    return {t.cell: t.landing for t in console.service.tablets.values()}


def _profiles(console: Console) -> list[str]:
    policy = console.service.policy.document
    return sorted(policy.profiles) if policy is not None else sorted(REQUIRED_PROFILES)


async def _last_sign_in(console: Console, number: str) -> dict[str, Any] | None:
    rows = await console.io(
        console.service.store.read,
        "SELECT at, actor FROM audit WHERE action = 'person_signed_in' AND target = ?"
        " ORDER BY seq DESC LIMIT 1", [f"prisoner:{number}"])
    return {"at": rows[0][0], "tablet": str(rows[0][1]).removeprefix("tablet:")} if rows else None


async def _change(call: Any) -> dict[str, Any]:
    try:
        result: dict[str, Any] = await call
    except UnknownPrisoner as exc:
        raise HTTPException(404, str(exc)) from exc
    except PrisonerInputError as exc:
        raise HTTPException(409, str(exc)) from exc
    return result


def prisoners_page_router() -> APIRouter:
    router = APIRouter()

    @router.get("/prisoners")
    @router.get("/prisoners.json")
    async def listing(request: Request, actor: Viewer, landing: str = "", cell: str = "",
                      status: str = "in_cell") -> Response:
        console = console_of(request)
        landings = _landings(console)
        people = [{**p, "landing": landings.get(p["cell"])}
                  for p in console.service.prisoners.listing(status if status in STATUSES
                                                             else None)]
        if landing:
            people = [p for p in people if p["landing"] == landing]
        if cell:
            people = [p for p in people if p["cell"] == cell]
        return page(request, "prisoners.html", {
            "people": people, "filter": {"landing": landing, "cell": cell, "status": status},
            "landings": sorted(set(landings.values())), "cells": sorted(landings),
            "statuses": list(STATUSES), "profiles": _profiles(console),
            "languages": sorted(LANGUAGES)})

    @router.get("/prisoners/{number}")
    @router.get("/prisoners/{number}.json")  # registered first (decorators apply bottom-up)
    async def person(request: Request, number: Number, actor: Viewer) -> Response:
        console = console_of(request)
        service = console.service
        try:
            shown = service.prisoners.show(number)
        except UnknownPrisoner as exc:
            raise HTTPException(404, str(exc)) from exc
        data = {
            "person": {**shown, "landing": _landings(console).get(shown["cell"])},
            "last_sign_in": await _last_sign_in(console, number),
            "web_grants": service.web.listing(number, "prisoner")
            if Right.WEB_GRANTS in actor.rights else None,
            "requests": await service.requests.listing(person=number)
            if Right.ANSWER_REQUESTS in actor.rights else None,
            "cells": sorted(_landings(console)),
        }
        return page(request, "prisoner.html", data)

    @router.post("/prisoners")
    @router.post("/prisoners.json")
    async def add(request: Request, actor: Changer,
                  number: Annotated[str, Form(max_length=16)],
                  name: Annotated[str, Form(max_length=200)],
                  cell: Annotated[str, Form(max_length=64)],
                  language: Annotated[str, Form(max_length=8)] = "en",
                  profile: Annotated[str, Form(max_length=32)] = "standard",
                  release_date: Annotated[str, Form(max_length=10)] = "") -> Response:
        try:
            body = AddBody(number=number.strip().upper(), name=name, cell=cell.strip(),
                           language=language, profile=profile,  # type: ignore[arg-type]
                           release_date=release_date)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first.get("loc", ()))
            raise HTTPException(422, f"{where}: {first['msg']}".removeprefix(": ")) from exc
        person = Prisoner(number=body.number, name=" ".join(body.name.split()),
                          language=body.language, profile=body.profile, cell=body.cell,
                          release_date=body.release_date)
        made = await _change(console_of(request).service.prisoners.add(person, actor.name))
        return done(request, f"/prisoners/{made['number']}", made)

    @router.post("/prisoners/{number}/move")
    @router.post("/prisoners/{number}/move.json")
    async def move(request: Request, number: Number, actor: Changer,
                   cell: Annotated[str, Form(min_length=1, max_length=64)]) -> Response:
        moved = await _change(console_of(request).service.prisoners.move(
            number, cell.strip(), actor.name))
        return done(request, f"/prisoners/{number}", moved)

    async def _leave(request: Request, number: str, status: str, actor: Actor,
                     reason: str) -> Response:
        if not reason.strip():
            raise HTTPException(422, "reason: give a reason (audited)")
        gone = await _change(console_of(request).service.prisoners.leave(
            number, status, actor.name, reason.strip()))
        return done(request, f"/prisoners/{number}", gone)

    @router.post("/prisoners/{number}/release")
    @router.post("/prisoners/{number}/release.json")
    async def release(request: Request, number: Number, actor: Changer,
                      reason: Text = "") -> Response:
        return await _leave(request, number, "released", actor, reason)

    @router.post("/prisoners/{number}/transfer")
    @router.post("/prisoners/{number}/transfer.json")
    async def transfer(request: Request, number: Number, actor: Changer,
                       reason: Text = "") -> Response:
        return await _leave(request, number, "transferred", actor, reason)

    @router.post("/prisoners/{number}/reset-pin")
    @router.post("/prisoners/{number}/reset-pin.json")
    async def reset_pin(request: Request, number: Number, actor: Changer) -> Response:
        """The one-time code is in this answer only: shown once, kept nowhere."""
        issued = await _change(console_of(request).service.prisoners.reset_pin(
            number, actor.name))
        return page(request, "prisoner_code.html", issued)

    @router.post("/prisoners/import")
    @router.post("/prisoners/import.json")
    async def import_roll(request: Request, actor: Changer,
                          csv: Annotated[str, Form(max_length=ROLL_MAX_BYTES)],
                          dry_run: Annotated[bool, Form()] = False,
                          skip_bad: Annotated[bool, Form()] = False) -> Response:
        """A dry run shows what would change (and every bad row with its line) and offers to
        apply the same roll; applying refuses a roll with a bad row unless told to skip them."""
        result = await _change(console_of(request).service.prisoners.import_roll(
            csv, actor.name, dry_run=dry_run, skip_bad=skip_bad))
        return page(request, "prisoner_import.html", {**result, "csv": csv,
                                                      "skip_bad": skip_bad})

    return router
