"""Fuzz: the control API against its own OpenAPI schema (schemathesis, in-process ASGI): whatever a
caller sends, no 500 and no answer the schema does not describe (issue 13, campaign "fuzz").

The service is real (its store in tmp_path, its signing key, three tablets) but has no broker
session: what it signs is stored and would be published once a broker is there, which is all
the API needs. Every check runs but one: a request the schema allows may still be refused (422/404)
by a rule no schema states (exactly one selector, a tablet that exists). Waits are cut to nothing so a generated `wait_s` of 600 does not stall the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from gateway.api import make_app
from gateway.config import GatewayConfig, TabletSeed
from gateway.service import GatewayService
from tests.fuzz.campaign import EXAMPLES, TALLY
from wire.envelope import private_key_to_pem

CAMPAIGN = "gateway control API (schemathesis)"


def _service(directory: Path) -> GatewayService:
    key = directory / "signing-key.pem"
    key.write_bytes(private_key_to_pem(Ed25519PrivateKey.generate()))
    config = GatewayConfig(
        wing="A", state_dir=directory / "state", signing_key=key,
        api_socket=directory / "api.sock",
        tablets=[TabletSeed(id=f"T{i}", cell=str(i), landing="A") for i in range(1, 4)],
    )
    return GatewayService(config)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayService]:
    made = _service(tmp_path_factory.mktemp("schema"))
    yield made
    made.close()


@pytest.fixture(scope="module")
def api_schema(service: GatewayService) -> schemathesis.Schema:
    return schemathesis.openapi.from_asgi("/openapi.json", make_app(service, anonymous="fuzz"))


def test_no_server_errors_and_no_answer_outside_the_schema(api_schema: schemathesis.Schema
                                                           ) -> None:
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 10

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=max(10, EXAMPLES // 5), deadline=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def call(case: schemathesis.Case) -> None:
            if isinstance(case.body, dict) and "wait_s" in case.body:
                case.body["wait_s"] = 0
            TALLY.case(CAMPAIGN)
            try:
                case.call_and_validate(excluded_checks=[positive_data_acceptance])
            except BaseException:
                TALLY.crash(CAMPAIGN)
                raise

        call()


def test_a_caller_whose_account_is_unknown_is_refused(tmp_path: Path) -> None:
    from starlette.testclient import TestClient

    service = _service(tmp_path)
    try:
        client = TestClient(make_app(service))
        answer = client.post("/v1/lock", json={"wing": True, "locked": True, "reason": "x"})
        assert answer.status_code == 403
        assert "OS account is unknown" in answer.json()["detail"]
        assert client.get("/v1/health").status_code == 200  # reading needs no account
    finally:
        service.close()
