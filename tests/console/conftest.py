"""Fixtures: the console in-process (httpx over ASGI, no network) on a real gateway service with
its real store, and staff accounts to sign in with."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from common.staff_web.accounts import Enrolment, totp_now
from common.staff_web.roles import Role
from gateway.config import GatewayConfig, TabletSeed
from gateway.console.app import build_console, make_console_app
from gateway.console.web import COOKIE, Console
from gateway.service import GatewayService
from wire.envelope import private_key_to_pem

BASE = "https://console.test"
TEST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
"""argon2id at the lowest cost, for the consoles these tests build in-process (a few ms a hash
instead of ~0.2 CPU-s, and a test signs in with several): the same algorithm and code path. Every
gateway process, the console tests that start one included, keeps `PRODUCTION_HASHER`
(test_accounts.py checks its parameters)."""
TABLETS = [("T1", "C1", "L1"), ("T2", "C1", "L1"), ("T3", "C2", "L1"), ("T4", "C3", "L2")]


def gateway_config(tmp_path: Path, **settings: Any) -> GatewayConfig:
    key = tmp_path / "signing.key"
    key.write_bytes(private_key_to_pem(Ed25519PrivateKey.generate()))
    return GatewayConfig(
        wing="A", state_dir=tmp_path / "state", signing_key=key,
        tablets=[TabletSeed(id=i, cell=c, landing=ld) for i, c, ld in TABLETS], **settings)


@pytest.fixture
def service(tmp_path: Path) -> Iterator[GatewayService]:
    service = GatewayService(gateway_config(tmp_path))
    yield service
    service.close()


@pytest.fixture
def console(service: GatewayService) -> Console:
    return build_console(service, TEST_HASHER)


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


@pytest.fixture(scope="session")
def console_apps() -> dict[str, FastAPI]:
    """The console app, built once per test process (`app`)."""
    return {}


@pytest.fixture
def app(console: Console, console_apps: dict[str, FastAPI]) -> Iterator[FastAPI]:
    """The real console app pointed at this test's console. Building its ~90 routes costs FastAPI
    ~0.4 CPU-s, so it is built once per test process: it keeps nothing between requests but
    `state.console` (the routes read the console from there; sessions, accounts and store are the
    console's), which is this test's and is taken away after it."""
    made = console_apps.get("app")
    if made is None:
        made = console_apps["app"] = make_console_app(console)
    made.state.console = console
    try:
        yield made
    finally:
        del made.state.console


def browser(app: FastAPI) -> httpx.AsyncClient:
    """A client of its own (its own cookies) on the in-process console."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(app) as client:
        yield client


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
