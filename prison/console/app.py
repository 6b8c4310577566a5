"""The prison console, composed: its parts over the prison's configuration (`build_console`: its
own store connection, the signing key, the accounts), its ASGI app on the shared machinery, and
its HTTPS server (`console_server`), which `prison run` serves beside the service."""

from __future__ import annotations

import time
from pathlib import Path

import uvicorn
from argon2 import PasswordHasher
from fastapi import FastAPI

from common.staff_web.accounts import PRODUCTION_HASHER
from common.staff_web.app import staff_app
from common.staff_web.render import templates
from common.staff_web.serving import https_server
from common.staff_web.sessions import Sessions
from prison.config import PrisonConfig
from prison.console.accounts import prison_account_book
from prison.console.pages import prison_router
from prison.console.rights import Right
from prison.console.web import PrisonConsole
from wire.envelope import private_key_from_pem

HERE = Path(__file__).parent
TEMPLATES = templates(HERE / "templates", Right=Right)


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


def build_console(config: PrisonConfig, hasher: PasswordHasher = PRODUCTION_HASHER
                  ) -> PrisonConsole:
    """`hasher` is for in-process tests only: every prison service keeps the production one."""
    store = config.open_store()
    try:
        key = private_key_from_pem(config.signing_key.read_bytes())
        return PrisonConsole(config=config, store=store, key=key,
                             book=prison_account_book(store, hasher), sessions=Sessions(),
                             clock=wall_ms)
    except BaseException:
        store.close()
        raise


def make_console_app(console: PrisonConsole) -> FastAPI:
    return staff_app(console, "Cellbridge prison console", TEMPLATES, [prison_router()])


def console_server(console: PrisonConsole) -> uvicorn.Server:
    """With the prison CA's server certificate for the console (`provision prison`)."""
    if console.config.console is None:
        raise ValueError("the prison configuration has no [console]")
    return https_server(make_console_app(console), console.config.console)
