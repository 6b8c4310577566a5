"""Fixtures for the web allow-list: a real gateway beside the real broker, with a wing policy
whose catalogue is the example's and whose tablets are never in curfew (tests run at any hour)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.policy_file import load_rules, rules_to_toml
from tests.gateway.conftest import TABLETS, gateway, make_gateway  # noqa: F401  (fixtures)
from tests.support.gateway import Gateway
from wire.policy import wing_policy

EXAMPLE = Path(__file__).parents[2] / "gateway" / "policies" / "example.toml"
__all__ = ["TABLETS"]


def open_all_day_policy(path: Path) -> Path:
    """The example policy with no curfew, lockdown or one-off exception."""
    rules = load_rules(EXAMPLE)
    for field in ("curfew", "overrides", "lockdowns"):
        rules.pop(field, None)
    policy = wing_policy(rules, audience="wing:A", version=1, issued=0, expires=1)
    path.write_text(rules_to_toml(policy))
    return path


@pytest.fixture
def web_gateway(gateway: Gateway, tmp_path: Path) -> Gateway:  # noqa: F811
    result = gateway.staff("policy", "apply", str(open_all_day_policy(tmp_path / "wing.toml")))
    assert result.returncode == 0, result.stderr
    return gateway
