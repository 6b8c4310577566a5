"""An app release through real processes: the wing gateway seals the app's manifest, IT releases
it and publishes it to the gateway's TUF repository, staff pin it in the wing policy, and the
agent installs it in the background; the shell can then launch it, and the gateway learns of
the pinned apps the tablet could not install."""

from __future__ import annotations

import json
import random
from pathlib import Path

from tests.policy.conftest import launch
from tests.support.agents import AgentProcess, Probe
from tests.support.broker import WingBroker
from tests.support.gateway import Gateway
from tests.updates.conftest import Wing
from tests.updates.support import COMPATIBLE
from tests.updates.test_agent_update import agent_with_updates, wing_gateway  # noqa: F401
from wire.documents import ReportedState

EXAMPLE = Path(__file__).resolve().parents[2] / "gateway" / "policies" / "example.toml"


def release_listener(gateway: Gateway, wing: Wing, version: str) -> None:
    """What IT does: the gateway seals the build's manifest, `release app` signs and adds it,
    `release publish` hands it to the gateway."""
    folder = wing.estate.dir / "src" / f"listener-{version}"
    (folder / "bin").mkdir(parents=True)
    (folder / "bin" / "run").write_text(f"#!/bin/sh\necho listener {version}\n")
    (folder / "bin" / "run").chmod(0o755)
    (folder / "numbers.bin").write_bytes(random.Random(version).randbytes(6 * 1024))
    signed = gateway.staff("policy", "sign-app", str(folder), "--app", "listener",
                           "--version", version, "--entry", "bin/run")
    assert signed.returncode == 0, signed.stderr
    wing.estate.release_app("listener", folder, version, COMPATIBLE)
    wing.publish()


def pin_listener(gateway: Gateway, version: str, tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace(
        '[apps.listener]\nname = "Listener line"\nversion = "2.1.0"',
        f'[apps.listener]\nname = "Listener line"\nversion = "{version}"')
    assert f'version = "{version}"' in text
    policy = tmp_path / f"policy-{version}.toml"
    policy.write_text(text)
    applied = gateway.staff("policy", "apply", str(policy))
    assert applied.returncode == 0, applied.stderr


def installed_version(agent: AgentProcess) -> str:
    envelope = json.loads((agent.state_dir / "apps" / "listener" / "manifest.json").read_text())
    return str(json.loads(envelope["body"])["app_version"])


def wait_launchable(agent: AgentProcess, version: str) -> None:
    agent.wait_for(lambda s: any(t.id == "listener" and t.allowed_now for t in s.apps)
                   and launch(agent, "listener").ok
                   and installed_version(agent) == version, timeout=60)


def test_a_policy_pinning_a_new_app_version_has_the_agent_install_it_and_the_shell_can_launch_it(
    broker: WingBroker, wing_gateway: Gateway, wing: Wing, tmp_path: Path  # noqa: F811
) -> None:
    release_listener(wing_gateway, wing, "2.1.0")
    release_listener(wing_gateway, wing, "2.2.0")
    tablet = wing.tablet(tmp_path / "tablet")
    tablet.config = tablet.config.model_copy(
        update={"repository_url": wing_gateway.repository_url})  # type: ignore[attr-defined]
    agent = agent_with_updates(tmp_path / "t1", broker, wing_gateway, tablet).start()
    probe = Probe(broker.host, broker.port, ["tablet/t1/reported"], tls=broker.observer_tls(1))
    try:
        agent.wait_connected()
        assert launch(agent, "listener").ok is False  # nothing installed yet
        # The example policy pins listener 2.1.0 before it is released: the tile cannot start.
        pin_listener(wing_gateway, "1.9.0", tmp_path)
        agent.wait_for(lambda s: any(t.id == "listener" and not t.allowed_now for t in s.apps)
                       and s.trusted_time, timeout=30)

        pin_listener(wing_gateway, "2.1.0", tmp_path)
        wait_launchable(agent, "2.1.0")

        pin_listener(wing_gateway, "2.2.0", tmp_path)
        wait_launchable(agent, "2.2.0")
        reply = launch(agent, "listener")
        assert reply.argv == (str((agent.state_dir / "apps" / "listener" / "bin" / "run")
                                  .resolve()),)

        # The catalogue's other apps were never released: the gateway hears so (and nothing
        # more of the listener, once installed).
        def settled(payload: bytes) -> bool:
            apps = {a.app: a.state for a in ReportedState.model_validate_json(payload).apps}
            return apps.get("legal") == "failed" and "listener" not in apps

        report = ReportedState.model_validate_json(
            probe.expect(lambda m: settled(m.payload), timeout=30).payload)
        legal = next(a for a in report.apps if a.app == "legal")
        assert (legal.version, legal.state) == ("1.0.0", "failed")
        assert "no signed target 'app/legal-1.0.0.raucb'" in legal.error

        # Staff see it in `update status` (the gateway's copy of the report may lag the probe's).
        for _ in range(100):
            [row] = wing_gateway.staff_json("update", "status")["tablets"]
            if any(a["app"] == "legal" for a in row["apps"]):
                break
        assert {a["app"]: a["state"] for a in row["apps"]}["legal"] == "failed"
        text = wing_gateway.staff("update", "status").stdout
        assert "pinned apps not installed" in text and "legal" in text
    finally:
        probe.close()
        agent.stop()
