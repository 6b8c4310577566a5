"""Fixtures: the console in-process (httpx over ASGI, no network) on a real gateway service with
its real store, and staff accounts to sign in with."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI

from gateway.config import GatewayConfig, TabletSeed
from gateway.console.app import build_console, make_console_app
from gateway.console.web import Console
from gateway.service import GatewayService
from tests.support.staff_web import (  # noqa: F401 (the console tests import them from here)
    BASE,
    TEST_HASHER,
    Staff,
    browser,
    csrf_of,
    make_staff,
    session_cookie,
    sign_in,
)
from wire.envelope import private_key_to_pem

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


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(app) as client:
        yield client


