"""Issue 2's slice with the real agent process on a real broker: a signed lock from the gateway's
key reaches the shell's lock screen with staff's reason; unlock takes it away; an agent that is
not there means locked."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.agents import AgentProcess, Probe, TestSigner, write_agent_config
from tests.support.broker import WingBroker
from wire.topics import TabletChannel, tablet

pytestmark = pytest.mark.gui


@pytest.fixture
def agent(broker: WingBroker, tmp_path: Path) -> Iterator[tuple[AgentProcess, TestSigner, Probe]]:
    """Tablet t1's real agent on the wing's broker (mutual TLS, enrolled like a real tablet)."""
    signer = TestSigner()
    config = write_agent_config(
        tmp_path / "t1",
        device_id="t1",
        wing=broker.demo.wing if broker.secure else "A",
        broker_host=broker.host,
        broker_port=broker.port,
        gateway_keys=[signer.write_public_key(tmp_path / "gw.pem")],
        backoff_max_s=1.0,
        enrolment_bundle=broker.demo.bundle("t1") if broker.secure else None,
    )
    process = AgentProcess(config).start()
    process.wait_connected()
    probe = Probe(broker.host, broker.port, tls=broker.observer_tls(1))
    # Registered on the wing: the gateway's first desired state (version 1) unlocks it.
    probe.publish(tablet("t1", TabletChannel.DESIRED), signer.seal(signer.first("t1")))
    process.wait_for(lambda s: not s.locked)
    yield process, signer, probe
    probe.close()
    process.kill()


def publish_lock(signer: TestSigner, probe: Probe, version: int, locked: bool, reason: str) -> None:
    document = signer.desired("t1", version, locked=locked, reason=reason)
    probe.publish(tablet("t1", TabletChannel.DESIRED), signer.seal(document))


def test_a_staff_lock_shows_the_reason_and_unlock_takes_the_lock_screen_away(
    agent: tuple[AgentProcess, TestSigner, Probe], start_shell: Callable
) -> None:
    process, signer, probe = agent
    shell = start_shell(process.socket_path)
    assert shell.wait_until(lambda: shell.app.agent_reachable and shell.app.shell_state.connected)
    assert not shell.app.shell_state.locked

    publish_lock(signer, probe, 2, True, "Cell search in progress")
    assert shell.wait_until(lambda: shell.screen() == "lock" and shell.app.shell_state.locked)
    assert shell.app.root.ids.sm.current_screen.ids.reason.text == "Cell search in progress"
    shell.screenshot("agent-lock-reason")

    publish_lock(signer, probe, 3, False, "search over")
    assert shell.wait_until(lambda: not shell.app.shell_state.locked and shell.screen() != "lock")


def test_a_forged_lock_changes_nothing_on_screen(
    agent: tuple[AgentProcess, TestSigner, Probe], start_shell: Callable
) -> None:
    process, _signer, probe = agent
    shell = start_shell(process.socket_path)
    assert shell.wait_until(lambda: shell.app.agent_reachable and shell.app.shell_state.connected)
    before = shell.screen()
    forger = TestSigner()  # a key the agent does not trust
    publish_lock(forger, probe, 2, True, "forged")
    publish_lock(forger, probe, 3, False, "forged")
    process.wait_for(lambda s: s.connected)
    shell.settle(0.5)
    assert shell.screen() == before
    assert not shell.app.shell_state.locked


def test_when_the_agent_dies_the_shell_shows_the_lock_screen(
    agent: tuple[AgentProcess, TestSigner, Probe], start_shell: Callable
) -> None:
    process, _signer, _probe = agent
    shell = start_shell(process.socket_path)
    assert shell.wait_until(lambda: shell.app.agent_reachable)
    process.kill()
    assert shell.wait_until(lambda: shell.screen() == "lock" and not shell.app.agent_reachable)
    assert shell.app.lock_title == "The tablet is getting ready"
    assert shell.app.connection_text == ""  # the lock screen's one calm sentence, nothing beside
