"""The launch check as the shell meets it (an in-process agent on a real broker): one decision,
`PolicyEnforcer.launch`, taken when the answer is sent; and the wing policy's time zone reaches
the shell."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import aiomqtt
import pytest

from agent.clock import TrustedClock
from agent.policy import PolicyEnforcer
from agent.service import Agent
from tests.policy.samples import TRUSTED, WING_KEY, install_app, policy
from tests.support.agents import TestSigner, agent_config, running_agents, wait_until
from tests.support.broker import WingBroker
from wire.envelope import seal
from wire.localapi import LaunchReply, LaunchRequest, encode, parse_message
from wire.schedule import utc_ms

EVENING = utc_ms("2026-11-11T18:00Z")  # a Wednesday: open until 22:00 (GMT)
SIGNER = TestSigner(key=WING_KEY)


def ask(sock_path: Path, app: str) -> LaunchReply:
    """Ask the agent, as the shell does, whether `app` may start (blocking: run in a thread)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(20)
        sock.connect(str(sock_path))
        sock.sendall(encode(LaunchRequest(op="launch", app=app)))
        buffer = b""
        while b"\n" not in buffer:
            buffer += sock.recv(65536)
    reply = parse_message(buffer.split(b"\n", 1)[0])
    assert isinstance(reply, LaunchReply)
    return reply


@pytest.fixture
async def gateway(broker: WingBroker) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(
        broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5,
        tls_context=broker.context(broker.gateway_tls()),
    ) as client:
        yield client


def tablet(tmp_path: Path, broker: WingBroker) -> Agent:
    key = SIGNER.write_public_key(tmp_path / "gateway.pem")
    config = agent_config(tmp_path, device_id="t0", wing="w1", broker_host=broker.host,
                          broker_port=broker.port, gateway_keys=[key], backoff_max_s=1.0,
                          tls=broker.tablet_tls("t0"))
    for app in ("listener", "education"):
        install_app(config.apps_path, app, wing="w1")
    return Agent(config)


async def set_up(gateway: aiomqtt.Client, **policy_changes: object) -> None:
    """Registered and unlocked, the sample policy, and the gateway's time: a weekday evening."""
    await gateway.publish("tablet/t0/desired", SIGNER.seal(SIGNER.first("t0")), qos=1)
    await gateway.publish("wing/policy", seal(policy(audience="wing:w1", **policy_changes),
                                              WING_KEY), qos=1)
    await gateway.publish("wing/time", SIGNER.seal(SIGNER.time("w1", issued=EVENING)), qos=1)


async def test_a_lock_that_lands_while_the_files_are_checked_makes_the_answer_no(
    tmp_path: Path, broker: WingBroker, gateway: aiomqtt.Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    agent = tablet(tmp_path, broker)
    async with running_agents(agent):
        await set_up(gateway)
        await wait_until(lambda: any(t.id == "education" and t.allowed_now
                                     for t in agent.state.apps))
        hashing, go_on = threading.Event(), threading.Event()
        verify = agent.policy.verify

        def slow_verify(app: str):  # type: ignore[no-untyped-def]
            hashing.set()
            go_on.wait(20)
            return verify(app)

        monkeypatch.setattr(agent.policy, "verify", slow_verify)
        answer = asyncio.create_task(asyncio.to_thread(ask, agent.config.socket, "education"))
        assert await asyncio.to_thread(hashing.wait, 20)
        await gateway.publish(
            "tablet/t0/desired", SIGNER.seal(SIGNER.desired("t0", 2, locked=True)), qos=1
        )
        await wait_until(lambda: agent.state.locked)
        go_on.set()
        reply = await answer
    assert (reply.ok, reply.reason, reply.argv) == (False, "the tablet is locked", ())


def test_files_verified_under_another_policy_are_verified_again(tmp_path: Path) -> None:
    """The one launch decision takes a verification done beforehand only if it was made under
    the policy in force when it answers."""
    clock = TrustedClock()
    clock.anchor(EVENING)
    enforcer = PolicyEnforcer(wing="A", apps_dir=tmp_path, trusted_keys=TRUSTED, clock=clock)
    install_app(tmp_path, "education")
    enforcer.set_policy(policy())
    verified = enforcer.verify("education")
    assert verified.reply.ok
    assert enforcer.launch("education", "standard", locked=False, verified=verified).reply.ok

    enforcer.set_policy(policy(version=2, apps={**policy().apps, "education": policy().apps[
        "education"].model_copy(update={"version": "9.9.9"})}))
    reply = enforcer.launch("education", "standard", locked=False, verified=verified).reply
    assert (reply.ok, reply.reason) == (False, "version 3.2.0 is not the allowed 9.9.9")


async def test_the_shell_is_told_the_wing_policys_time_zone(
    tmp_path: Path, broker: WingBroker, gateway: aiomqtt.Client
) -> None:
    agent = tablet(tmp_path, broker)
    async with running_agents(agent):
        assert agent.state.timezone is None  # no policy yet
        await set_up(gateway, timezone="America/New_York")
        await wait_until(lambda: agent.state.timezone == "America/New_York")
