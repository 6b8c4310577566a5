"""Fixtures for the web allow-list: a real gateway beside the real broker, with a wing policy
whose catalogue is the example's and whose tablets are never in curfew (tests run at any hour)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.gateway.conftest import TABLETS, gateway, make_gateway, peer  # noqa: F401  (fixtures)
from tests.support.gateway import Gateway
from tests.support.os_accounts import make_account, staff_group  # noqa: F401  (fixtures)
from tests.web.support import curfew_policy, open_all_day_policy

__all__ = ["TABLETS", "curfew_policy", "open_all_day_policy"]


@pytest.fixture
def web_gateway(gateway: Gateway, tmp_path: Path) -> Gateway:  # noqa: F811
    result = gateway.cli("policy", "apply", str(open_all_day_policy(tmp_path / "wing.toml")))
    assert result.returncode == 0, result.stderr
    return gateway


@pytest.fixture
async def web_wing(tmp_path: Path, broker, demo_estate):  # type: ignore[no-untyped-def]
    """A gateway running real Squid behind its TLS front; origins on 127.x.y.z:443; the
    open-all-day example policy applied. T1 has the resettlement profile; T2 and T3 standard."""
    import shutil

    from tests.web.support import OriginCA, Origins, squid_directory
    from tests.web.wing import start_web_gateway

    if os.geteuid() != 0:
        pytest.skip("the origins listen on port 443 (CONNECT :443 only): run as root")
    if not Path("/usr/sbin/squid").exists():
        pytest.skip("squid-openssl is not installed (scripts/system-deps.sh)")
    ca = OriginCA(tmp_path)
    origins = await Origins(ca).start()
    squid_dir = squid_directory()
    wing = start_web_gateway(tmp_path / "gw", broker, demo_estate, TABLETS, origins, ca,
                             squid_dir)
    try:
        result = wing.gateway.cli("policy", "apply",
                                    str(open_all_day_policy(tmp_path / "wing.toml")))
        assert result.returncode == 0, result.stderr
        result = wing.gateway.cli("policy", "profile", "resettlement", "--device", "T1")
        assert result.returncode == 0, result.stderr
        yield wing
    finally:
        wing.stop()
        await origins.close()
        if not os.environ.get("CELLBRIDGE_KEEP_SQUID"):
            shutil.rmtree(squid_dir, ignore_errors=True)
