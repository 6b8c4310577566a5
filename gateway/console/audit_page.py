"""The audit page: the trail filtered by date, account, tablet and kind; the chain verified; the
selection exported as CSV."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from common.staff_web.render import page
from gateway.console import audit_query
from gateway.console.audit_query import AuditFilter
from gateway.console.rights import Right
from gateway.console.web import Actor, console_of, need
from gateway.store import Audit


def _date(text: str, what: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise HTTPException(422, f"{what}: a date as YYYY-MM-DD") from None


def audit_filter(start: Annotated[str, Query(max_length=10)] = "",
                 end: Annotated[str, Query(max_length=10)] = "",
                 account: Annotated[str, Query(max_length=130)] = "",
                 tablet: Annotated[str, Query(max_length=64)] = "",
                 kind: Annotated[str, Query(max_length=64)] = "",
                 limit: Annotated[int, Query(ge=1, le=audit_query.MAX_ROWS)] = 500
                 ) -> AuditFilter:
    return AuditFilter(_date(start, "start"), _date(end, "end"), account.strip(),
                       tablet.strip(), kind.strip(), limit)


def audit_router() -> APIRouter:
    router = APIRouter()

    @router.get("/audit")
    @router.get("/audit.json")
    async def audit(request: Request, actor: Annotated[Actor, Depends(need(Right.VIEW_AUDIT))],
                    f: Annotated[AuditFilter, Depends(audit_filter)],
                    verify: bool = False) -> Response:
        console = console_of(request)
        store = console.service.store
        entries = await console.io(audit_query.query, store, f)
        data = {"filter": f.as_json(), "entries": entries,
                "kinds": await console.io(audit_query.kinds, store), "verify": None}
        if verify:
            check = await console.service.verify_audit()
            data["verify"] = {"ok": check.ok, "entries": check.entries,
                              "broken_at": check.broken_at, "problem": check.problem}
        return page(request, "audit.html", data)

    @router.get("/audit.csv")
    async def export(request: Request, actor: Annotated[Actor, Depends(need(Right.VIEW_AUDIT))],
                     f: Annotated[AuditFilter, Depends(audit_filter)]) -> Response:
        console = console_of(request)
        entries = await console.io(audit_query.query, console.service.store, f)
        await console.audit(Audit(
            console.clock(), actor.label, "audit_export", "audit",
            {"filter": f.as_json(), "entries": len(entries)}))
        return Response(audit_query.as_csv(entries), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": 'attachment; filename="audit.csv"'})

    return router

