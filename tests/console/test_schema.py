"""`schemathesis` over the console's API (its OpenAPI description, generated from the routes):
whatever a signed-in session with every role sends, the console never answers 5xx."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest
from fastapi.responses import JSONResponse
from hypothesis import HealthCheck, given, settings

from common.staff_web.roles import Role
from common.staff_web.web import COOKIE
from gateway.console.app import build_console, make_console_app
from gateway.service import GatewayService
from tests.console.conftest import TEST_HASHER, gateway_config, make_staff

schemathesis = pytest.importorskip("schemathesis")
SIGNED_OUT = r"^/(signout|signin)(\.json)?$"


@pytest.mark.timeout(600)
def test_no_request_makes_the_console_fail(tmp_path: Path) -> None:
    service = GatewayService(gateway_config(tmp_path))
    try:
        console = build_console(service, TEST_HASHER)
        app = make_console_app(console)
        app.add_route("/openapi.json", lambda _request: JSONResponse(app.openapi()))
        # A name made at run time: Hypothesis also draws strings from the constants of the code
        # under test, and a reset of the caller's own account rightly ends its session.
        caller = f"fuzz-{secrets.token_hex(6)}"
        make_staff(console, caller, Role.ADMIN, Role.SECURITY, Role.IT, Role.OFFICER)
        session = console.sessions.new(caller, console.clock())
        headers = {"cookie": f"{COOKIE}={session.id}", "x-csrf-token": session.csrf}
        schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(
            path_regex=SIGNED_OUT)
        failures: list[str] = []
        operations = 0
        answered: set[int] = set()
        refused: list[str] = []  # a signed-in root refused: which request, to find the cause
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1

            @given(case=operation.as_strategy())
            @settings(max_examples=8, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))
            def check(case: Any) -> None:
                response = case.call(headers=headers)
                answered.add(response.status_code)
                if response.status_code in (401, 403) and len(refused) < 5:
                    refused.append(f"{case.method} {case.formatted_path} "
                                   f"query={case.query!r} body={case.body!r}: "
                                   f"{response.status_code} {response.text[:200]}")
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.formatted_path}: "
                                    f"{response.status_code} {response.text[:200]}")

            check()
        assert operations >= 20
        assert failures == []
        assert 200 in answered
        assert refused == []  # signed in, with every right
    finally:
        service.close()
