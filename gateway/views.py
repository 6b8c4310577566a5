"""What staff see of each tablet (`GET /v1/tablets`, `cellbridge staff status`): presence, the lock
it reports, who is signed in on it (the prison number it reports), and whether it has applied what
the gateway issued it.

Presence is live only while the gateway has a broker session: without one, a tablet's last will
cannot reach the gateway, so `online` is None (unknown) and `last_seen` is what there is."""

from __future__ import annotations

from typing import Any

from gateway.desired import is_behind
from gateway.fleet import Fleet
from gateway.issuer import Issuer


def tablet_views(fleet: Fleet, issuer: Issuer, *, live: bool = True) -> list[dict[str, Any]]:
    """`live`: the gateway has a broker session now (else presence is unknown)."""
    lockdown = issuer.lockdown.document if issuer.lockdown else None
    views = []
    for tablet in sorted(fleet.tablets.values(), key=lambda t: t.id):
        status = fleet.statuses.get(tablet.id)
        report = fleet.reported.get(tablet.id)
        desired = issuer.desired.get(tablet.id)
        desired_version = desired.document.version if desired else 0
        lockdown_version = lockdown.version if lockdown else 0
        views.append({
            "id": tablet.id,
            "cell": tablet.cell,
            "landing": tablet.landing,
            "online": bool(status and status.state == "online") if live else None,
            "boot_id": status.boot_id if status else None,
            "last_seen": status.last_seen if status else None,
            "profile": desired.document.profile if desired else None,
            "signed_in": report.signed_in if report else None,
            "locked": report.lock.locked if report else None,
            "lock": report.lock.model_dump() if report else None,
            "desired": {
                "version": desired_version,
                "locked": desired.document.lock.locked if desired else False,
                "reported_version": report.desired_version if report else None,
            },
            "lockdown": {
                "version": lockdown_version,
                "locked": lockdown.lock.locked if lockdown else False,
                "reported_version": report.lockdown_version if report else None,
            },
            "in_sync": _applied(desired_version, report.desired_version if report else None)
            and _applied(lockdown_version, report.lockdown_version if report else None),
        })
    return views


def _applied(wanted: int, reported: int | None) -> bool:
    """Version 0 means nothing was ever issued: there is nothing to apply."""
    return wanted == 0 or not is_behind(wanted, reported)
