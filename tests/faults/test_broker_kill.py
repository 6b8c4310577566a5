"""Broker SIGKILL during a wing lockdown (issue 13, fault campaign): every tablet ends locked and
reported, none lost.

A whole wing on the real broker (mutual TLS, the generated configuration), the real gateway
process, and N real agents in this process (`cellbridge.fleet`, as the benchmarks run them). The
wing lockdown is issued and the broker is SIGKILLed a moment later, so it dies with the lockdown
partly fanned out (and everything since its last autosave lost); it is restarted on the same port.
The gateway's record and every agent's state must then show every tablet locked by the wing, at
the lockdown's version. N = 200 in `make test`; 2,000 with CELLBRIDGE_SLOW=1 (`make soak`), with
more kill moments.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from cellbridge.fleet import fleet, wait_until
from cellbridge.wing import LocalWing
from tests.faults.conftest import SLOW

TABLETS = 2000 if SLOW else 200
KILL_AFTER_S = [0.0, 0.05, 0.3] if SLOW else [0.05]
SETTLE_S = 1500 if SLOW else 240


@pytest.fixture
def local_wing() -> Iterator[LocalWing]:
    # Tablets' state on tmpfs where there is one: N fsyncs through one disk would measure the disk.
    shm = Path("/dev/shm")
    root = Path(tempfile.mkdtemp(prefix="cellbridge-fault-", dir=shm if shm.is_dir() else None))
    wing = LocalWing(root / "wing", TABLETS, state_root=root / "tablets")
    try:
        wing.start_broker()
        wing.start_gateway()
        yield wing
    finally:
        wing.stop()
        shutil.rmtree(root, ignore_errors=True)


def all_locked_and_reported(tablets: list[dict], version: int) -> list[str]:
    """The tablets the gateway does not yet show locked by the wing at `version`."""
    return [t["id"] for t in tablets
            if not (t["locked"] and t["lock"]["source"] == "wing"
                    and t["lockdown"]["reported_version"] == version)]


@pytest.mark.slow
@pytest.mark.timeout(3600 if SLOW else 300)
@pytest.mark.parametrize("kill_after_s", KILL_AFTER_S)
async def test_a_broker_killed_during_a_wing_lockdown_loses_no_tablet(
    local_wing: LocalWing, kill_after_s: float
) -> None:
    broker = local_wing.broker
    assert broker is not None
    transport = httpx.AsyncHTTPTransport(uds=str(local_wing.gateway_api))
    configs = [local_wing.agent_config(t) for t in local_wing.tablets]
    async with (
        httpx.AsyncClient(transport=transport, base_url="http://gateway", timeout=120) as api,
        fleet(configs) as agents,
    ):
        await wait_until(lambda: all(a.connected and not a.state.locked for a in agents), SETTLE_S)

        response = await api.post("/v1/lock", json={
            "wing": True, "locked": True, "reason": "fault campaign", "by": "test"})
        assert response.status_code == 200, response.text
        version = response.json()["version"]
        await asyncio.sleep(kill_after_s)
        broker.kill()
        await asyncio.sleep(1.0)
        broker.start()

        await wait_until(lambda: all(a.state.locked for a in agents), SETTLE_S)
        missing: list[str] = local_wing.tablets
        for _ in range(SETTLE_S):
            missing = all_locked_and_reported((await api.get("/v1/tablets")).json(), version)
            if not missing:
                break
            await asyncio.sleep(1)
        assert not missing, f"{len(missing)} tablets not reported locked: {missing[:10]}"
        assert all(a.state.locked for a in agents)
