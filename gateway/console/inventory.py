"""The inventory (IT): every tablet with its versions, slot, enrolment state, profile, policy hash
and last sight, from the gateway's public faces (`tablet_views`, `reported`, the store's `read`);
sorted by any column with plain links (no script), and its JSON twin.

A tablet's client certificate is never shown to the gateway apart from the TLS handshake at the
broker, so the tablet reports its notAfter (`ReportedState.cert_not_after`); the inventory shows
"expires in N days" and warns under `CERT_WARN_DAYS` (None: an agent that does not say)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from common.staff_web.render import page
from gateway.console.rights import Right
from gateway.console.web import Actor, console_of, need

COLUMNS = {
    "id": "Tablet", "cell": "Cell", "landing": "Landing", "agent": "Agent", "os": "OS running",
    "slot": "Slot", "update": "Update", "enrolment": "Enrolment", "profile": "Profile",
    "policy_hash": "Policy hash", "cert_expires": "Certificate", "last_seen": "Last seen",
}
"""Column key → heading; every key is a sort key."""
CERT_WARN_DAYS = 30
DAY_MS = 86_400_000


def cert_days(not_after: int | None, now: int) -> int | None:
    """Whole days until the certificate runs out; once it has, minus the whole days since."""
    if not_after is None:
        return None
    return (not_after - now) // DAY_MS if not_after > now else -((now - not_after) // DAY_MS)


def enrolment(view: dict[str, Any], reported: bool, registered: int | None) -> str:
    """What the gateway knows of a tablet's enrolment: on the wing list; seen on the broker with
    its own certificate; reporting its state."""
    if reported:
        return "reporting"
    if view["last_seen"] is not None:
        return "connected, no report yet"
    return "registered, never seen" if registered is not None else "on the wing list"


def rows(views: list[dict[str, Any]], reported: dict[str, Any], registered: dict[str, int],
         now: int) -> list[dict[str, Any]]:
    result = []
    for view in views:
        report = reported.get(view["id"])
        update = report.update if report else None
        result.append({
            "id": view["id"], "cell": view["cell"], "landing": view["landing"],
            "agent": report.agent_version if report else None,
            "os": update.running or None if update else None,
            "slot": update.slot or None if update else None,
            "update": (f"{update.state} {update.version}".strip() if update else None),
            "enrolment": enrolment(view, report is not None, registered.get(view["id"])),
            "registered": registered.get(view["id"]),
            "cert_expires": report.cert_not_after if report else None,
            "cert_days": cert_days(report.cert_not_after if report else None, now),
            "cert_expired": report is not None and report.cert_not_after is not None
            and report.cert_not_after <= now,
            "profile": (report.profile if report else None) or view["profile"],
            "policy_hash": (report.policy_hash or None) if report else None,
            "last_seen": view["last_seen"], "online": view["online"],
        })
    return result


def sort_rows(items: list[dict[str, Any]], key: str, descending: bool) -> list[dict[str, Any]]:
    """Unknown values ("—") always last, whichever the direction."""
    known = [r for r in items if r[key] is not None]
    unknown = [r for r in items if r[key] is None]
    known.sort(key=lambda r: (r[key], r["id"]), reverse=descending)
    return known + sorted(unknown, key=lambda r: r["id"])


def inventory_router() -> APIRouter:
    router = APIRouter()

    @router.get("/inventory")
    @router.get("/inventory.json")
    async def inventory(request: Request,
                        actor: Annotated[Actor, Depends(need(Right.INVENTORY))],
                        sort: Annotated[str, Query(max_length=16)] = "id",
                        desc: bool = False) -> Response:
        console = console_of(request)
        service = console.service
        if sort not in COLUMNS:
            sort = "id"
        registered = {str(r[0]): int(r[1]) for r in await console.io(
            service.store.read, "SELECT id, registered FROM tablets")}
        items = sort_rows(rows(service.tablet_views(), service.reported, registered,
                               console.clock()), sort, desc)
        return page(request, "inventory.html", {
            "sort": sort, "desc": desc, "columns": COLUMNS, "tablets": items,
            "cert_warn_days": CERT_WARN_DAYS})

    return router
