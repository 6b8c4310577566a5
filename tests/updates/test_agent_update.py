"""The whole path with real processes: staff start a rollout at the gateway, the agent receives
the signed update target, installs the release from the gateway's TUF repository over HTTPS into
its file-backed slot, shows progress to the shell, reboots into it, commits, and the gateway's
`staff update status` shows it done."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w

from agent.store import Store
from tests.support.agents import AgentProcess, write_agent_config
from tests.support.broker import WingBroker
from tests.support.gateway import Gateway
from tests.updates.conftest import Wing
from tests.updates.support import Tablet


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def wing_gateway(broker: WingBroker, wing: Wing, tmp_path: Path) -> Iterator[Gateway]:
    """The gateway process, also serving the published TUF repository (its `[repository]`)."""
    gw = Gateway(tmp_path / "gw", broker.host, broker.port,
                 wing=broker.demo.wing if broker.secure else "A", tablets=[("t1", "1", "L1")],
                 tls=broker.gateway_tls(), time_beacon_s=0.5)
    port = free_port()
    gw.repository_url = f"https://127.0.0.1:{port}"  # type: ignore[attr-defined]
    with open(gw.config_path, "a") as f:
        f.write("\n" + tomli_w.dumps({"repository": {
            "dir": str(wing.repo_dir), "cert": str(wing.tls.cert), "key": str(wing.tls.key),
            "host": "127.0.0.1", "port": port}}))
    gw.start()
    yield gw
    gw.close()


def agent_with_updates(directory: Path, broker: WingBroker, gateway: Gateway,
                       tablet: Tablet, **updates_settings: object) -> AgentProcess:
    config = write_agent_config(
        directory, device_id="t1", wing=broker.demo.wing if broker.secure else "A",
        broker_host=broker.host, broker_port=broker.port,
        gateway_keys=[gateway.public_key_path],
        enrolment_bundle=broker.demo.bundle("t1") if broker.secure else None)
    updates = tablet.config.model_dump(mode="json", exclude_none=True)
    updates["health_needs_shell"] = False
    updates.update(updates_settings)
    with open(config, "a") as f:
        f.write("\n" + tomli_w.dumps({"updates": updates}))
    return AgentProcess(config)


def wait_reboot_requested(tablet: Tablet) -> None:
    for _ in range(200):  # `rebooting` is persisted (and shown) just before the request
        if tablet.slots.bootloader().reboot_requested:
            return
        time.sleep(0.05)
    raise AssertionError("the agent never asked for a reboot")


def rollout_view(gateway: Gateway, stage: str) -> dict:  # type: ignore[type-arg]
    for _ in range(100):
        view = gateway.staff_json("update", "status")
        if view["rollouts"][0]["stage"] == stage:
            return view  # type: ignore[no-any-return]
    raise AssertionError(f"rollout never reached {stage}: {json.dumps(view)}")


def test_a_rollout_reaches_a_real_agent_which_installs_reboots_and_commits(
    broker: WingBroker, wing_gateway: Gateway, wing: Wing, tmp_path: Path
) -> None:
    target = wing.release("1.1.0")
    tablet = wing.tablet(tmp_path / "tablet")
    tablet.config = tablet.config.model_copy(
        update={"repository_url": wing_gateway.repository_url})  # type: ignore[attr-defined]
    agent = agent_with_updates(tmp_path / "t1", broker, wing_gateway, tablet).start()
    try:
        agent.wait_connected()
        started = wing_gateway.staff("update", "start", "--id", "r1", "--target", target,
                                     "--version", "1.1.0", "--canary", "t1")
        assert started.returncode == 0, started.stderr
        state = agent.wait_for(lambda s: s.update.state == "rebooting", timeout=60)
        assert "restart" in state.update.message
        wait_reboot_requested(tablet)
    finally:
        agent.stop()

    assert tablet.slots.power_cycle() == "B"
    rebooted = AgentProcess(agent.config_path).start()
    try:
        rebooted.wait_for(lambda s: s.update.state == "committed", timeout=60)
        row = rollout_view(wing_gateway, "done")["tablets"][0]
        assert (row["reported"]["state"], row["reported"]["running"]) == ("committed", "1.1.0")
    finally:
        rebooted.stop()
    assert tablet.slots.version("B") == "1.1.0"
    assert tablet.slots.bootloader().left["B"] == 3
    # It came from the gateway process's repository, not the test's own server.
    assert not [path for path, _ in wing.hostile.requests if path.startswith("/targets/")]


def test_a_release_whose_trial_boot_is_unhealthy_is_rolled_back_and_the_gateway_told(
    broker: WingBroker, wing_gateway: Gateway, wing: Wing, tmp_path: Path
) -> None:
    target = wing.release("1.1.0")
    tablet = wing.tablet(tmp_path / "tablet")
    tablet.config = tablet.config.model_copy(
        update={"repository_url": wing_gateway.repository_url})  # type: ignore[attr-defined]
    agent = agent_with_updates(tmp_path / "t1", broker, wing_gateway, tablet).start()
    try:
        agent.wait_connected()
        started = wing_gateway.staff("update", "start", "--id", "r1", "--target", target,
                                     "--version", "1.1.0", "--canary", "t1")
        assert started.returncode == 0, started.stderr
        agent.wait_for(lambda s: s.update.state == "rebooting", timeout=60)
        wait_reboot_requested(tablet)
    finally:
        agent.stop()

    # The new release boots, but its shell never comes up: the trial fails its health check.
    assert tablet.slots.power_cycle() == "B"
    broken = agent_with_updates(tmp_path / "t1", broker, wing_gateway, tablet,
                                health_needs_shell=True, health_timeout_s=1.0).start()
    try:
        wait_reboot_requested(tablet)
    finally:
        broken.stop()
    assert tablet.slots.power_cycle() == "A"

    back = agent_with_updates(tmp_path / "t1", broker, wing_gateway, tablet).start()
    try:
        state = back.wait_for(lambda s: s.update.state == "rolled_back", timeout=60)
        assert state.update.message == ""  # nothing alarming on the prisoner's screen
        view = rollout_view(wing_gateway, "stopped")
        row = view["tablets"][0]
        assert row["reported"]["state"] == "rolled_back"
        assert row["reported"]["running"] == "1.0.0"
        assert "health check failed" in row["reported"]["error"]
    finally:
        back.stop()
    assert tablet.slots.bootloader().left["B"] == 0
    store = Store(back.state_dir / "state.db")
    try:
        rows = [r for r in store.audit_rows() if r.topic == "update"]
    finally:
        store.close()
    assert [(r.event, r.reason) for r in rows] == [("rolled_back", f"{target} 1.1.0")]
    assert "health check failed" in rows[0].detail


def test_after_a_restart_the_update_engine_waits_for_fresh_gateway_time(
    broker: WingBroker, wing: Wing, tmp_path: Path
) -> None:
    """The signed time kept from before the restart is a lower bound, not the time now: trusting
    it would judge TUF expiry and the staff window by a clock that stood still while off."""
    from tests.support.agents import Probe, TestSigner
    from wire.documents import SignedTime, UpdateTarget
    from wire.envelope import seal

    target = wing.release("1.1.0")
    tablet = wing.tablet(tmp_path / "tablet")
    signer = TestSigner()
    config = write_agent_config(
        tmp_path / "t1", device_id="t1", wing=broker.demo.wing, broker_host=broker.host,
        broker_port=broker.port, gateway_keys=[signer.write_public_key(tmp_path / "gw.pem")],
        enrolment_bundle=broker.demo.bundle("t1"))
    updates = tablet.config.model_dump(mode="json", exclude_none=True)
    updates["health_needs_shell"] = False
    with open(config, "a") as f:
        f.write("\n" + tomli_w.dumps({"updates": updates}))
    probe = Probe(broker.host, broker.port, ["tablet/t1/reported"], tls=broker.observer_tls(1))
    agent = AgentProcess(config).start()
    try:
        agent.wait_connected()
        now = int(time.time() * 1000)
        probe.publish("wing/time", seal(SignedTime(
            audience=f"wing:{broker.demo.wing}", version=now, issued=now, expires=now + 90_000),
            signer.key), retain=False)
        probe.publish("tablet/t1/desired", signer.seal(signer.first("t1")))
        agent.wait_for(lambda s: not s.locked)  # applied after the time: both are stored
        agent.stop()
        agent.start()
        agent.wait_connected()
        update = UpdateTarget(target=target, version="1.1.0")
        probe.publish("tablet/t1/desired", signer.seal(signer.first("t1", 2).model_copy(
            update={"update": update})))
        report = probe.expect(lambda m: (json.loads(m.payload).get("update") or {}).get("error")
                              or (json.loads(m.payload).get("update") or {}).get("state")
                              not in (None, "idle"), timeout=30)
        assert json.loads(report.payload)["update"]["error"] == "no trusted time yet"
    finally:
        agent.stop()
        probe.close()
