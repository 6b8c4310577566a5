"""The wing console's `Console`: the parts its pages are handed (the gateway service's public
faces, the accounts, the sessions, the lock confirmations being followed). What every staff
console shares (who is signed in, the rights check, CSRF, the errors) is `common.staff_web.web`,
re-exported here for the wing's pages."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ParamSpec, TypeVar

from fastapi import Request

from common.staff_web.accounts import AccountBook
from common.staff_web.roles import Role
from common.staff_web.sessions import Sessions
from common.staff_web.web import (
    COOKIE,
    Actor,
    Forbidden,
    need,
    signed_in,
)
from gateway.console.jobs import LockJobs
from gateway.console.rights import Right, rights_of
from gateway.service import GatewayService
from gateway.store import Audit
from gateway.two_person import Approvals

__all__ = ["COOKIE", "Actor", "Console", "Forbidden", "console_of", "need", "signed_in"]

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Console:
    """The parts the console's pages are handed: the gateway service's public faces, the
    accounts, the sessions and the lock confirmations being followed."""

    service: GatewayService
    book: AccountBook
    sessions: Sessions
    jobs: LockJobs
    clock: Callable[[], int]

    @property
    def approvals(self) -> Approvals:
        """The gateway's one book of two-person requests, which the control API shares."""
        return self.service.approvals

    def rights_of(self, roles: Iterable[Role]) -> frozenset[Right]:
        return rights_of(roles)

    async def audit(self, *audits: Audit) -> None:
        """Record console events that change no state of the wing (each its own entry)."""
        for audit in audits:
            await self.service.io(self.service.store.append, audit)

    async def io(self, call: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run an accounts or store call on the gateway's store thread."""
        return await self.service.io(call, *args, **kwargs)


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console
