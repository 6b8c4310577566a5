"""The tablet's enforcer: stored policy + trusted clock → what the shell shows and may start."""

from __future__ import annotations

from pathlib import Path

from agent.clock import TrustedClock
from agent.policy import PolicyEnforcer
from tests.policy.samples import TRUSTED, install_app, policy
from wire.schedule import utc_ms

EVENING = utc_ms("2026-11-11T18:00Z")
NIGHT = utc_ms("2026-11-11T23:00Z")


class Monotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def enforcer(tmp_path: Path, at: int | None = EVENING) -> tuple[PolicyEnforcer, Monotonic]:
    mono = Monotonic()
    clock = TrustedClock(monotonic=mono)
    if at is not None:
        clock.anchor(at)
    result = PolicyEnforcer(wing="A", apps_dir=tmp_path, trusted_keys=TRUSTED, clock=clock)
    result.set_policy(policy())
    for app in ("listener", "education", "games"):
        install_app(tmp_path, app)
    return result, mono


def test_an_allowed_verified_app_may_start(tmp_path: Path) -> None:
    subject, _ = enforcer(tmp_path)
    outcome = subject.launch("education", "standard", locked=False)
    assert (outcome.reply.ok, outcome.refused) == (True, False)
    assert outcome.reply.argv == (str((tmp_path / "education" / "bin" / "run").resolve()),)


def test_an_app_outside_its_hours_is_refused(tmp_path: Path) -> None:
    subject, mono = enforcer(tmp_path)
    mono.now += 3.5 * 3600  # 21:30: games end at 21:00
    outcome = subject.launch("games", "enhanced", locked=False)
    assert (outcome.reply.ok, outcome.reply.reason, outcome.refused) == (False, "outside its hours", True)


def test_an_always_allowed_app_runs_in_curfew(tmp_path: Path) -> None:
    subject, _ = enforcer(tmp_path, at=NIGHT)
    assert subject.launch("listener", "basic", locked=False).reply.ok
    assert subject.launch("education", "basic", locked=False).reply.reason == "curfew"


def test_without_trusted_time_only_always_allowed_apps_run(tmp_path: Path) -> None:
    subject, _ = enforcer(tmp_path, at=None)
    assert subject.view("standard", locked=False).curfew.state == "unknown"
    assert subject.launch("listener", "standard", locked=False).reply.ok
    assert not subject.launch("education", "standard", locked=False).reply.ok


def test_a_tampered_allowed_app_is_refused(tmp_path: Path) -> None:
    subject, _ = enforcer(tmp_path)
    (tmp_path / "education" / "data.txt").write_text("evil")
    outcome = subject.launch("education", "standard", locked=False)
    assert (outcome.reply.ok, outcome.reply.reason) == (False, "file data.txt changed since it was signed")


def test_without_a_policy_nothing_runs(tmp_path: Path) -> None:
    clock = TrustedClock()
    clock.anchor(EVENING)
    subject = PolicyEnforcer(wing="A", apps_dir=tmp_path, trusted_keys=TRUSTED, clock=clock)
    assert subject.launch("listener", "standard", locked=False).reply.reason == "no wing policy yet"
    view = subject.view("standard", locked=False)
    assert (view.curfew.state, view.apps) == ("unknown", ())


def test_the_agent_sleeps_until_the_next_boundary_at_most_a_few_seconds(tmp_path: Path) -> None:
    subject, _ = enforcer(tmp_path, at=utc_ms("2026-11-11T21:44:59Z"))
    subject.view("standard", locked=False)
    assert subject.sleep_s() == 1.0
    subject.clock.anchor(EVENING)
    subject.view("standard", locked=False)
    assert subject.sleep_s() == 5.0


def test_the_view_is_due_again_at_its_boundary_or_when_its_inputs_change(tmp_path: Path) -> None:
    subject, mono = enforcer(tmp_path, at=utc_ms("2026-11-11T21:44:59Z"))
    assert subject.due("standard", locked=False)
    subject.view("standard", locked=False)
    assert not subject.due("standard", locked=False)
    assert subject.due("basic", locked=False)
    assert subject.due("standard", locked=True)
    mono.now += 1.0
    assert subject.due("standard", locked=False)
