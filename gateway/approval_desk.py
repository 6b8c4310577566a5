"""The two-person rule at the service: ask for a two-person action, sweep what lapsed, and lift
the wing lockdown once a second person agreed. The console and the control API both come here, so
a lift asked for at one can be approved at the other and every lapse is audited once.

A wipe's lapse is the job book's to record (`wipe_lapsed`, with the job closed in the same
transaction): the sweep has the job desk do it and never audits it again. A sensitive web grant
whose approval lapsed is revoked, so it can never take effect later by accident.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.desired import LockRequest
from gateway.fleet import Selector
from gateway.lock import LockOutcome
from gateway.store import Audit
from gateway.two_person import APPROVE_WEB_GRANT, UNLOCK_WING, WIPE_TABLET, Pending
from gateway.web_grants import GrantInputError, UnknownGrant

if TYPE_CHECKING:
    from gateway.service import GatewayService

LAPSED = "not approved by a second person within 10 minutes"


def wing_target(service: GatewayService) -> str:
    return f"wing:{service.config.wing}"


async def record(service: GatewayService, *audits: Audit) -> None:
    for audit in audits:
        await service.io(service.store.append, audit)


async def ask(service: GatewayService, action: str, target: str, reason: str, by: str,
              actor: str) -> Pending:
    """Record `action` on `target` as waiting for a second person (audited as `actor`), not
    done. `by` names the asker as the approval compares it (`same_person`)."""
    now = service.clock()
    pending = service.approvals.request(action, target, reason, by, now)
    await record(service, Audit(now, actor, "two_person_request", target,
                                {"action": action, "reason": reason, "id": pending.id}))
    return pending


async def sweep_lapsed(service: GatewayService) -> None:
    """Audit what lapsed (once each); revoke a sensitive grant still waiting for its approval."""
    now = service.clock()
    lapsed = service.approvals.lapsed(now)
    await record(service, *(
        Audit(now, "system", "two_person_lapsed", p.target,
              {"action": p.action, "requested_by": f"staff:{p.requested_by}",
               "reason": p.reason})
        for p in lapsed if p.action != WIPE_TABLET))
    if any(p.action == WIPE_TABLET for p in lapsed):
        await service.jobs.sweep()
    web = service.web
    for pending in (p for p in lapsed if p.action == APPROVE_WEB_GRANT):
        grant_id = pending.target.removeprefix("grant:")
        grant = next((g for g in web.listing() if g["id"] == grant_id), None)
        if grant is None or grant["state"] not in ("awaiting_approval", "lapsed"):
            continue  # approved from the CLI meanwhile, revoked, or expired
        try:
            await web.revoke(grant_id, "two-person rule", LAPSED, actor="system")
        except (GrantInputError, UnknownGrant):
            continue


async def lift_lockdown(service: GatewayService, pending: Pending, approver: str,
                        wait_s: float = 0.0) -> tuple[str, LockOutcome]:
    """Lift the wing lockdown `pending` asked for, now that `approver` agreed: the signed
    document names both people (the lock screen and each tablet's audit show it)."""
    assert pending.action == UNLOCK_WING
    both = f"{pending.requested_by}+{approver}"
    outcome = await service.lock(Selector(wing=True), LockRequest(False, both, pending.reason),
                                 wait_s)
    return both, outcome
