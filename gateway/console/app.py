"""The wing console, composed: its parts (`build_console`) and its ASGI app (`make_console_app`):
the page families' routers over the shared staff console machinery (`common.staff_web.app`:
sign-in, CSRF, security headers, errors)."""

from __future__ import annotations

from argon2 import PasswordHasher
from fastapi import FastAPI

from common.staff_web.accounts import PRODUCTION_HASHER
from common.staff_web.app import staff_app
from common.staff_web.sessions import Sessions
from gateway.console.account_store import wing_account_book
from gateway.console.accounts_page import accounts_router
from gateway.console.approvals import approvals_router
from gateway.console.audit_page import audit_router
from gateway.console.curfew import curfew_router
from gateway.console.inbox import inbox_router
from gateway.console.inventory import inventory_router
from gateway.console.jobs import LockJobs
from gateway.console.policy_page import policy_router
from gateway.console.prisoners_page import prisoners_page_router
from gateway.console.render import HERE, TEMPLATES
from gateway.console.rollouts import rollouts_router
from gateway.console.tablet import tablet_router
from gateway.console.web import Console
from gateway.console.web_grants_page import web_grants_router
from gateway.console.wing import wing_router
from gateway.service import GatewayService


def build_console(service: GatewayService, hasher: PasswordHasher = PRODUCTION_HASHER) -> Console:
    """The console's parts over a gateway service (its accounts table is made if missing);
    `hasher` is for the in-process tests only: every gateway keeps the production one."""
    return Console(service=service, book=wing_account_book(service.store, hasher),
                   sessions=Sessions(), jobs=LockJobs(service.tablet_views, service.clock),
                   clock=service.clock)


def make_console_app(console: Console) -> FastAPI:
    return staff_app(console, "Cellbridge staff console", TEMPLATES, (
        wing_router(), tablet_router(), audit_router(), inbox_router(), accounts_router(),
        approvals_router(), curfew_router(), policy_router(), rollouts_router(),
        web_grants_router(), inventory_router(), prisoners_page_router()),
        static=HERE / "static")
