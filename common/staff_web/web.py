"""What every page of a staff console shares: the console it is served from (`StaffConsole`: its
accounts, sessions, clock, rights table and store thread), who is signed in (`Actor`), the rights
check (`need`), the CSRF check on every state-changing request, and the errors that become a
sign-in redirect, a 403 or a one-line message.

The check is the API's: a page's JSON twin and its HTML are one route, so a role without a right
gets 403 whether or not a button was shown.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any, ParamSpec, Protocol, TypeVar

from fastapi import Depends, Request

from common.staff_web.accounts import Account, AccountBook
from common.staff_web.roles import Role
from common.staff_web.sessions import Session, Sessions

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


class StaffConsole(Protocol):
    """What the shared machinery needs of a console (each console's own dataclass has it)."""

    @property
    def book(self) -> AccountBook: ...

    @property
    def sessions(self) -> Sessions: ...

    @property
    def clock(self) -> Callable[[], int]: ...

    def rights_of(self, roles: Iterable[Role]) -> frozenset[str]:
        """The console's own table: what these roles may do there."""
        ...

    async def io(self, call: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
        """Run an accounts or store call off the event loop."""
        ...


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is signed in, carried on the request, with what their roles allow in this console."""

    account: Account
    session: Session
    rights: frozenset[str]

    @property
    def name(self) -> str:
        return self.account.name

    @property
    def label(self) -> str:
        """As the audit names them."""
        return f"staff:{self.account.name}"


def staff_console_of(request: Request) -> StaffConsole:
    console: StaffConsole = request.app.state.console
    return console


def session_of(request: Request) -> Session | None:
    console = staff_console_of(request)
    return console.sessions.get(request.cookies.get(COOKIE), console.clock())


async def signed_in_any(request: Request) -> Actor:
    """The signed-in account, even one that must still change its one-time password."""
    console = staff_console_of(request)
    session = session_of(request)
    if session is None or session.account is None:
        raise SignInNeeded()
    account = await console.io(console.book.get, session.account)
    if account is None or account.disabled:
        console.sessions.end(session.id)
        raise SignInNeeded()
    actor = Actor(account, session, console.rights_of(account.roles))
    request.state.actor = actor
    return actor


async def signed_in(actor: Actor = Depends(signed_in_any)) -> Actor:  # noqa: B008
    if actor.account.must_change:
        raise PasswordChangeNeeded()
    return actor


def need(right: str) -> Callable[..., Awaitable[Actor]]:
    """A dependency: the signed-in actor, if their roles carry `right`; else 403."""

    async def check(actor: Actor = Depends(signed_in)) -> Actor:  # noqa: B008
        if right not in actor.rights:
            raise Forbidden(f"your roles do not include the right {right}")
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
