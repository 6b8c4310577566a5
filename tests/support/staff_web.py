"""Signing in to a staff console in tests, for the wing's and the prison's alike: accounts made
straight in the console's `AccountBook` (their first password already changed), a client of the
console's app in-process (httpx over ASGI), and the sign-in with the TOTP code of the moment."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
from argon2 import PasswordHasher
from fastapi import FastAPI

from common.staff_web.accounts import Enrolment, totp_now
from common.staff_web.roles import Role
from common.staff_web.web import COOKIE

BASE = "https://console.test"
TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
"""argon2id at the lowest cost, for the consoles these tests build in-process (a few ms a hash
instead of ~0.2 CPU-s, and a test signs in with several): the same algorithm and code path. Every
gateway and prison process, the console tests that start one included, keeps `PRODUCTION_HASHER`
(tests/console/test_accounts.py checks its parameters)."""
Console = Any
"""A console: anything with the shared machinery's `book` and `clock` (wing or prison)."""


@dataclass
class Staff:
    """An account made for a test, its first password changed to `password`."""

    name: str
    password: str
    totp_secret: str | None

    def code(self, console: Console) -> str:
        return totp_now(self.totp_secret, console.clock()) if self.totp_secret else ""


def make_staff(console: Console, name: str, *roles: Role, change: bool = True) -> Staff:
    enrolment: Enrolment = console.book.add(name, name.title(), frozenset(roles), "staff:setup",
                                            console.clock())
    secret = None
    if enrolment.totp_uri:
        match = re.search(r"secret=([A-Z2-7]+)", enrolment.totp_uri)
        assert match
        secret = match.group(1)
    password = enrolment.password
    if change:
        password = f"{name}-correct-horse-battery"
        console.book.change_password(name, enrolment.password, password, console.clock())
    return Staff(name, password, secret)


def browser(app: FastAPI) -> httpx.AsyncClient:
    """A client of its own (its own cookies) on the in-process console."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


async def csrf_of(client: httpx.AsyncClient) -> str:
    """The CSRF token of the client's session (one is made on the sign-in page)."""
    response = await client.get("/signin.json")
    assert response.status_code == 200
    token: str = response.json()["csrf"]
    return token


async def sign_in(client: httpx.AsyncClient, console: Console, staff: Staff,
                  code: str | None = None) -> httpx.Response:
    """Sign in as `staff` (with its current TOTP code unless `code` is given); the new session's
    CSRF token is then in `client.headers`."""
    token = await csrf_of(client)
    response = await client.post("/signin.json", data={
        "name": staff.name, "password": staff.password,
        "code": staff.code(console) if code is None else code, "csrf_token": token})
    if response.status_code == 200:
        client.headers["x-csrf-token"] = response.json()["csrf"]
    return response


def session_cookie(client: httpx.AsyncClient) -> str | None:
    return client.cookies.get(COOKIE)
