"""The agent and the gateway run on the identities provisioning made: the lock path works over
mutual TLS end to end, a tampered bundle stops the agent, a revoked tablet is refused by the
gateway even on a session that outlived its revocation."""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
from pathlib import Path

import aiomqtt
import pytest

from agent.config import load_config
from common.config import ConfigError
from provisioning import estate as est
from tests.gateway.tablet_peer import TabletPeer
from tests.support.agents import REPO_ROOT, AgentProcess, write_agent_config
from tests.support.broker import WingBroker
from tests.support.gateway import Gateway


def agent_config(
    tmp_path: Path, broker: WingBroker, device: str, bundle: Path | None = None
) -> Path:
    return write_agent_config(
        tmp_path / device,
        device_id=device,
        wing=broker.demo.wing,
        broker_host=broker.host,
        broker_port=broker.port,
        gateway_keys=[],
        enrolment_bundle=bundle or broker.demo.bundle(device),
    )


def estate_gateway(tmp_path: Path, broker: WingBroker, tablets, **settings) -> Gateway:
    """The gateway with the client certificate and signing key `provision wing` made."""
    demo = broker.demo
    return Gateway(
        tmp_path / "gateway",
        broker.host,
        broker.port,
        wing=demo.wing,
        tablets=tablets,
        signing_key=demo.estate.gateway_signing_key(demo.wing),
        tls=demo.gateway_tls(),
        **settings,
    )


def test_the_agent_takes_its_broker_identity_and_gateway_key_from_the_bundle(
    tmp_path, broker
) -> None:
    config = load_config(agent_config(tmp_path, broker, "I1"))
    bundle = broker.demo.bundle("I1")
    assert config.broker.tls is not None and config.broker.tls.cert == bundle / "tablet.pem"
    assert (config.broker.host, config.broker.port) == (broker.host, broker.port)
    assert config.gateway_keys == [bundle / "gateway-signing.pub"]


def test_an_agent_refuses_to_start_on_a_tampered_bundle(tmp_path, broker) -> None:
    bundle = tmp_path / "bundle"
    shutil.copytree(broker.demo.bundle("I2"), bundle)
    (bundle / "enrolment.json").write_text(
        (bundle / "enrolment.json").read_text().replace(str(8883), "1883")
    )
    config = agent_config(tmp_path, broker, "I2", bundle)
    with pytest.raises(ConfigError, match=r"enrolment\.json does not match its manifest hash"):
        load_config(config)
    run = subprocess.run(
        [sys.executable, "-m", "cellbridge", "agent", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        timeout=60,
        check=False,
    )
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        f"Error: enrolment bundle {bundle} refused: enrolment.json does not match its manifest hash (altered or corrupted)"
    ]


def test_an_agent_refuses_a_bundle_made_for_another_tablet(tmp_path, broker) -> None:
    config = agent_config(tmp_path, broker, "I3", bundle=broker.demo.bundle("I4"))
    with pytest.raises(ConfigError, match="is for tablet 'I4' in wing 'w1', not 'I3'"):
        load_config(config)


def test_a_staff_lock_reaches_an_enrolled_agent_over_mutual_tls(tmp_path, broker) -> None:
    gateway = estate_gateway(tmp_path, broker, [("L1", "C1", "N1")]).start()
    agent = AgentProcess(agent_config(tmp_path, broker, "L1"))
    try:
        agent.start().wait_connected()
        result = gateway.staff("lock", "--device", "L1", "--reason", "search", "--wait", "20")
        assert result.returncode == 0, result.stderr
        state = agent.wait_for(lambda s: s.lock.locked)
        assert state.lock.reason == "search"
    finally:
        agent.kill()
        gateway.close()


async def test_the_gateway_refuses_a_revoked_tablet_whose_session_outlived_the_revocation(
    tmp_path, broker
) -> None:
    demo = broker.demo
    revoked_list = broker.workdir / "revoked.json"
    gateway = estate_gateway(
        tmp_path, broker, [("V1", "C1", "N1"), ("V2", "C1", "N1")], revoked_list=revoked_list
    ).start()
    try:
        v1 = TabletPeer(broker.host, broker.port, "V1", demo.wing, gateway.trusted_keys,
                        tls=broker.context(demo.tablet_tls("V1")))
        await v1.__aenter__()
        try:
            est.revoke(demo.estate, "V1", "found jailbroken", None)
            est.publish_crl(demo.estate, demo.wing, broker.workdir)
            # Sent at once, before the gateway has had the broker end V1's session (it polls the
            # list every second: tests/provisioning/test_revoked_session.py), so it reaches the
            # gateway, which must refuse it by the list it re-reads on every message.
            await v1.birth(boot_id="after-revocation")
        finally:
            with contextlib.suppress(aiomqtt.MqttError):  # its session may be over by now
                await v1.__aexit__(None, None, None)
        # V2's lock is the sentinel: its birth is handled after V1's by the gateway.
        async with TabletPeer(
            broker.host,
            broker.port,
            "V2",
            demo.wing,
            gateway.trusted_keys,
            tls=broker.context(demo.tablet_tls("V2")),
        ) as v2:
            await v2.birth()
            result = await gateway.astaff(
                "lock", "--device", "V2", "--reason", "x", "--wait", "20"
            )
            assert result.returncode == 0, result.stderr
        audit = gateway.staff_json("audit")["entries"]
        refused = [e for e in audit if e["action"] == "revoked_tablet"]
        assert [e["actor"] for e in refused] == ["tablet:V1"]
        tablets = {t["id"]: t for t in gateway.staff_json("status")["tablets"]}
        assert tablets["V1"]["online"] is False and tablets["V2"]["online"] is True
    finally:
        gateway.close()
