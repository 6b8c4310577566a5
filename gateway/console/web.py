"""What every page of the console shares: the `Console` it is served from, who is signed in
(`Actor`), the rights check (`need`), the CSRF check on every state-changing request, and the
errors that become a sign-in redirect, a 403 or a one-line message.

The check is the API's: a page's JSON twin and its HTML are one route, so a role without a right
gets 403 whether or not a button was shown.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

from fastapi import Depends, Request

from gateway.console.accounts import Account, AccountBook
from gateway.console.jobs import LockJobs
from gateway.console.rights import Right, rights_of
from gateway.console.sessions import Session, Sessions
from gateway.service import GatewayService
from gateway.store import Audit
from gateway.two_person import Approvals

COOKIE = "__Host-cellbridge"
"""`__Host-`: the browser keeps it only if Secure, Path=/ and no Domain."""
CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

P = ParamSpec("P")
T = TypeVar("T")


class SignInNeeded(Exception):
    """No live session with an account: the page sends the browser to sign in."""


class PasswordChangeNeeded(Exception):
    """Signed in with a one-time password: nothing else until it is changed."""


class Forbidden(Exception):
    """Signed in, but the account's roles do not carry the right (or the CSRF token is wrong)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


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

    async def audit(self, *audits: Audit) -> None:
        """Record console events that change no state of the wing (each its own entry)."""
        for audit in audits:
            await self.service.io(self.service.store.append, audit)

    async def io(self, call: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run an accounts or store call on the gateway's store thread."""
        return await self.service.io(call, *args, **kwargs)


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is signed in, carried on the request."""

    account: Account
    session: Session

    @property
    def name(self) -> str:
        return self.account.name

    @property
    def label(self) -> str:
        """As the audit names them."""
        return f"staff:{self.account.name}"

    @property
    def rights(self) -> frozenset[Right]:
        return rights_of(self.account.roles)


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def session_of(request: Request) -> Session | None:
    console = console_of(request)
    return console.sessions.get(request.cookies.get(COOKIE), console.clock())


async def signed_in_any(request: Request) -> Actor:
    """The signed-in account, even one that must still change its one-time password."""
    console = console_of(request)
    session = session_of(request)
    if session is None or session.account is None:
        raise SignInNeeded()
    account = await console.io(console.book.get, session.account)
    if account is None or account.disabled:
        console.sessions.end(session.id)
        raise SignInNeeded()
    actor = Actor(account, session)
    request.state.actor = actor
    return actor


async def signed_in(actor: Actor = Depends(signed_in_any)) -> Actor:  # noqa: B008
    if actor.account.must_change:
        raise PasswordChangeNeeded()
    return actor


def need(right: Right) -> Callable[..., Awaitable[Actor]]:
    """A dependency: the signed-in actor, if their roles carry `right`; else 403."""

    async def check(actor: Actor = Depends(signed_in)) -> Actor:  # noqa: B008
        if right not in actor.rights:
            raise Forbidden(f"your roles do not include the right {right.value}")
        return actor

    return check


async def csrf_guard(request: Request) -> None:
    """Every state-changing request carries its session's CSRF token (header or form field)."""
    if request.method in SAFE_METHODS:
        return
    session = session_of(request)
    token = request.headers.get(CSRF_HEADER)
    if token is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    if session is None or not session.check_csrf(token):
        raise Forbidden("missing or wrong CSRF token: reload the page and try again")


def wants_json(request: Request) -> bool:
    """The JSON twin: the same route with `.json` on its path."""
    return request.url.path.endswith(".json")


def actor_of(request: Request) -> Actor | None:
    actor: Any = getattr(request.state, "actor", None)
    return actor if isinstance(actor, Actor) else None
