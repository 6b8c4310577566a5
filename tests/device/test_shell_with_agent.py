"""The shell against the real agent process on a real broker: signed documents published the way
the gateway publishes them, the agent verifying and pushing state over its socket, the shell in a
real window under Xvfb. The agent's clocks are moved by the test (never the machine's)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.policy.samples import WING_KEY, install_app, policy
from tests.support.agents import AgentProcess, Probe, TestSigner, write_agent_config
from tests.support.broker import WingBroker
from tests.support.clocked_agent import MONOTONIC_OFFSET_ENV, WALL_OFFSET_ENV
from wire.documents import SignedTime
from wire.envelope import seal
from wire.schedule import utc_ms
from wire.topics import WING_POLICY, WING_TIME, TabletChannel, tablet

pytestmark = pytest.mark.gui

DEVICE = "t1"
WING = "w1"  # the test estate's wing (tests/conftest.py: demo_estate)
EVENING = utc_ms("2026-11-11T18:00Z")  # a Wednesday, hours before the 22:00 curfew (GMT)
TEN_TO_CURFEW = utc_ms("2026-11-11T21:50Z")


class World:
    """A broker, one agent process with its clocks under the test's control, and a publisher
    holding the wing's signing key."""

    def __init__(self, broker: WingBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
        self.broker = broker
        self.signer = TestSigner(key=WING_KEY)
        self.monotonic_file = tmp_path / "monotonic-offset"
        self.wall_file = tmp_path / "wall-offset"
        self.monotonic_file.write_text("0")
        self.wall_file.write_text("0")
        monkeypatch.setenv(MONOTONIC_OFFSET_ENV, str(self.monotonic_file))
        monkeypatch.setenv(WALL_OFFSET_ENV, str(self.wall_file))
        config = write_agent_config(
            tmp_path / DEVICE,
            device_id=DEVICE,
            wing=WING,
            broker_host=broker.host,
            broker_port=broker.port,
            gateway_keys=[self.signer.write_public_key(tmp_path / "gateway.pem")],
            backoff_max_s=1.0,
            enrolment_bundle=broker.demo.bundle(DEVICE) if broker.secure else None,
        )
        self.agent = AgentProcess(config)
        self.probe = Probe(broker.host, broker.port, tls=broker.observer_tls(1))
        self.version = 0

    def start(self, at: int, apps: tuple[str, ...] = ("listener", "education")) -> None:
        import time

        self.wall_file.write_text(str(at / 1000 - time.time()))
        for app in apps:
            install_app(self.agent.state_dir / "apps", app, wing=WING)
        self.agent.start()
        self.agent.wait_connected()
        self.probe.publish(WING_POLICY, seal(policy(audience=f"wing:{WING}"), self.signer.key))
        self.beacon(at)
        self.agent.wait_for(lambda s: s.trusted_time is not None and s.curfew.state != "unknown")
        self.lock(False, "registered on the wing", by="system")  # the gateway's first desired
        self.agent.wait_for(lambda s: s.lock.source != "failsafe")

    def beacon(self, at: int) -> None:
        time_doc = SignedTime(audience=f"wing:{WING}", version=at, issued=at, expires=at + 90_000)
        self.probe.publish(WING_TIME, seal(time_doc, self.signer.key), retain=False)

    def advance(self, seconds: float) -> None:
        self.monotonic_file.write_text(str(float(self.monotonic_file.read_text()) + seconds))

    def lock(self, locked: bool, reason: str, by: str = "officer") -> None:
        self.version += 1
        # Valid around the agent's trusted time, which the test has set (not the machine's).
        issued = EVENING - 60_000
        document = self.signer.desired(
            DEVICE,
            self.version,
            locked=locked,
            reason=reason,
            by=by,
            issued=issued,
            expires=issued + 30 * 86_400_000,
        )
        self.probe.publish(tablet(DEVICE, TabletChannel.DESIRED), self.signer.seal(document))

    def close(self) -> None:
        self.probe.close()
        self.agent.kill()


def labels(shell) -> set[str]:
    return {getattr(w, "text", "") for w in shell.app.root.walk()}


def find(shell, text):
    return next(
        w for w in shell.app.root.ids.sm.current_screen.walk() if getattr(w, "text", "") == text
    )


def test_a_staff_lock_reaches_the_screen_and_unlock_returns_to_where_the_prisoner_was(
    world: World, start_shell: Callable
) -> None:
    world.start(EVENING)
    shell = start_shell(world.agent.socket_path)
    assert shell.wait_until(lambda: shell.app.agent_reachable and shell.screen() == "home")
    assert shell.app.clock_text == "18:00"
    shell.app.open_lesson("email")
    shell.step()
    shell.tap(find(shell, "Next"))
    assert shell.app.root.ids.sm.current_screen.step_title == "An email address"

    world.lock(True, "Cell search in progress")
    assert shell.wait_until(lambda: shell.screen() == "lock")
    lock = shell.app.root.ids.sm.current_screen
    assert lock.ids.reason.text == "Cell search in progress"
    # Only always-allowed apps (here the installed one; an uninstalled app is not offered).
    assert {t.text for t in lock.ids.tiles.children} <= {"Listener line", "Legal letters"}
    shell.screenshot("agent-lock")

    world.lock(False, "search over")
    assert shell.wait_until(lambda: shell.screen() == "lesson")
    assert shell.app.root.ids.sm.current_screen.step_title == "An email address"
    shell.screenshot("agent-unlocked-back-in-lesson")


def test_home_shows_only_the_apps_the_profile_allows(world: World, start_shell: Callable) -> None:
    world.start(EVENING)
    shell = start_shell(world.agent.socket_path)
    assert shell.wait_until(lambda: shell.app.agent_reachable and shell.screen() == "home")
    tiles = {t.text for t in shell.app.root.ids.sm.current_screen.ids.tiles.children}
    allowed = {a.name for a in world.agent.state().apps if a.allowed_now}
    assert tiles == allowed | {"Digital skills", "Requests", "Help and settings"}
    assert "Games" not in tiles  # enhanced profile only; this tablet is standard


def test_when_the_agent_dies_the_shell_locks_and_comes_back_when_it_returns(
    world: World, start_shell: Callable
) -> None:
    world.start(EVENING)
    shell = start_shell(world.agent.socket_path)
    assert shell.wait_until(lambda: shell.app.agent_reachable and shell.screen() == "home")
    shell.app.go("settings")
    shell.step()

    world.agent.kill()
    assert shell.wait_until(lambda: shell.screen() == "lock" and not shell.app.agent_reachable)
    assert "The tablet is getting ready" in labels(shell)
    shell.screenshot("agent-gone")

    world.agent.start()
    world.agent.wait_connected()
    world.beacon(EVENING + 60_000)  # a restarted agent trusts no clock until the next beacon
    assert shell.wait_until(
        lambda: shell.app.agent_reachable and shell.screen() == "settings", timeout=20
    )


def test_curfew_is_announced_then_shown_with_only_always_allowed_apps(
    world: World, start_shell: Callable
) -> None:
    world.start(TEN_TO_CURFEW)
    shell = start_shell(world.agent.socket_path)
    assert shell.wait_until(lambda: shell.app.agent_reachable and shell.screen() == "home")
    assert shell.wait_until(lambda: shell.app.banner_text.startswith("Curfew starts in"))
    assert shell.app.banner_text in ("Curfew starts in 10 minutes.", "Curfew starts in 9 minutes.")
    shell.screenshot("agent-curfew-warning")

    world.advance(11 * 60)
    assert shell.wait_until(lambda: shell.screen() == "curfew", timeout=20)
    assert shell.app.curfew_until == "The tablet opens again at 07:00."
    tiles = {t.text for t in shell.app.root.ids.sm.current_screen.ids.tiles.children}
    assert tiles and tiles <= {"Listener line", "Legal letters"}
    shell.screenshot("agent-curfew")
