"""The engine's behaviour around the happy path: failed health checks, boots that never reach
mark-good, interrupted downloads, the staff window, storms of notices, the loop guard."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from agent.updates.engine import Outcome
from agent.updates.states import RESUME, TRANSITIONS, State
from agent.updates.store import UpdateRecord
from tests.updates.conftest import Wing
from tests.updates.support import PowerCut, Tablet, cut_power_in


def install_and_reboot(wing: Wing, tablet: Tablet, version: str = "1.1.0",
                       size: int = 64 * 1024) -> str:
    target = wing.release(version, size=size)
    engine = tablet.engine()
    engine.offer(target, version)
    assert engine.run() == Outcome.REBOOT
    return target


def test_every_state_has_a_resume_and_every_transition_is_declared() -> None:
    assert set(RESUME) == set(State)
    targets = {after for after in TRANSITIONS.values()}
    assert targets <= set(State)


def test_a_release_that_fails_its_health_check_is_rolled_back_and_reported(
    wing: Wing, tablet: Tablet
) -> None:
    install_and_reboot(wing, tablet)
    assert tablet.slots.power_cycle() == "B"
    reports: list[UpdateRecord] = []
    trial = tablet.engine(health=lambda: False, report=reports.append)
    assert trial.run() == Outcome.REBOOT
    assert trial.state().state == State.REBOOTING
    assert tablet.slots.power_cycle() == "A"

    back = tablet.engine(report=reports.append)
    assert back.run() == Outcome.SETTLED
    record = back.state()
    assert record.state == State.ROLLED_BACK
    assert "health check failed" in record.error
    assert [r.state for r in reports][-1] == State.ROLLED_BACK
    assert tablet.slots.bootloader().left["B"] == 0
    assert tablet.slots.bootloader().left["A"] == 3
    assert record.highest_version is None


def test_a_slot_that_never_reaches_mark_good_is_rolled_back(wing: Wing, tablet: Tablet) -> None:
    install_and_reboot(wing, tablet)
    # The new slot boots three times and dies each time before the agent runs.
    assert [tablet.slots.power_cycle() for _ in range(4)] == ["B", "B", "B", "A"]
    engine = tablet.engine()
    assert engine.run() == Outcome.SETTLED
    assert engine.state().state == State.ROLLED_BACK
    assert "never reached mark-good" in engine.state().error


def test_a_download_cut_at_half_resumes_with_a_range_request(wing: Wing, tablet: Tablet) -> None:
    target = wing.release("1.1.0", size=2 * 1024 * 1024)
    length = (wing.repo_dir / "targets" / target).stat().st_size
    half = length // 2
    wing.hostile.rules[f"/targets/{target}"] = f"cut:{half}"
    engine = tablet.engine()
    engine.offer(target, "1.1.0")
    assert engine.run() == Outcome.RETRY
    assert engine.state().state == State.DOWNLOADING

    del wing.hostile.rules[f"/targets/{target}"]
    assert tablet.engine().run() == Outcome.REBOOT
    bundle_requests = [r for r in wing.hostile.requests if r[0] == f"/targets/{target}"]
    assert bundle_requests == [(f"/targets/{target}", ""),
                               (f"/targets/{target}", f"bytes={half}-")]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_kept_partial_that_lost_bytes_is_downloaded_again_from_the_start(
    wing: Wing, tablet: Tablet
) -> None:
    target = wing.release("1.1.0", size=2 * 1024 * 1024)
    bundle = wing.repo_dir / "targets" / target
    half = bundle.stat().st_size // 2
    wing.hostile.rules[f"/targets/{target}"] = f"cut:{half}"
    engine = tablet.engine()
    engine.offer(target, "1.1.0")
    assert engine.run() == Outcome.RETRY
    # The download is not fsynced: a power cut may leave zeros where bytes were.
    [partial] = (tablet.config.work_dir / "download").glob("*.partial")
    with open(partial, "r+b") as f:
        f.write(bytes(4096))

    del wing.hostile.rules[f"/targets/{target}"]
    assert tablet.engine().run() == Outcome.REBOOT
    bundle_requests = [r[1] for r in wing.hostile.requests if r[0] == f"/targets/{target}"]
    assert bundle_requests == ["", f"bytes={half}-", ""]
    assert sha256(tablet.slots.image("B")) == sha256(bundle)


def test_a_verified_bundle_lost_in_a_power_cut_is_downloaded_again(wing: Wing,
                                                                   tablet: Tablet) -> None:
    target = wing.release("1.1.0", size=2 * 1024 * 1024)
    bundle = wing.repo_dir / "targets" / target
    engine = tablet.engine(report=cut_power_in(State.VERIFIED))
    engine.offer(target, "1.1.0")
    with pytest.raises(PowerCut):
        engine.run()
    [downloaded] = (tablet.config.work_dir / "download").glob("*.raucb")
    os.truncate(downloaded, bundle.stat().st_size // 2)  # its tail never reached storage

    engine = tablet.engine()
    assert engine.run() == Outcome.REBOOT
    assert engine.state().state == State.REBOOTING
    bundle_requests = [r[1] for r in wing.hostile.requests if r[0] == f"/targets/{target}"]
    assert bundle_requests == ["", ""]
    assert sha256(tablet.slots.image("B")) == sha256(bundle)


def test_a_download_refused_from_the_start_is_not_downloaded_again(wing: Wing,
                                                                   tablet: Tablet) -> None:
    target = wing.release("1.1.0", size=2 * 1024 * 1024)
    bundle = wing.repo_dir / "targets" / target
    with open(bundle, "r+b") as f:  # the gateway serves bytes TUF did not sign
        f.seek(1024)
        f.write(b"\xff" * 16)
    engine = tablet.engine()
    engine.offer(target, "1.1.0")
    assert engine.run() == Outcome.SETTLED
    assert engine.state().state == State.FAILED
    assert "does not match the signed target" in engine.state().error
    assert [r for r in wing.hostile.requests if r[0] == f"/targets/{target}"] == [
        (f"/targets/{target}", "")]
    tablet.record_unchanged()


def test_the_switch_waits_for_the_staff_window(wing: Wing, tablet: Tablet) -> None:
    target = wing.release("1.1.0")
    window = threading.Event()
    engine = tablet.engine(window_open=window.is_set)
    engine.offer(target, "1.1.0")
    assert engine.run() == Outcome.WAITING
    assert engine.state().state == State.INSTALLED
    assert tablet.slots.bootloader().left["B"] == 0  # installed, not yet armed
    assert engine.run() == Outcome.WAITING
    window.set()
    assert engine.run() == Outcome.REBOOT
    assert tablet.slots.bootloader().order[0] == "B"


def test_a_storm_of_update_notices_runs_one_install(wing: Wing, tablet: Tablet) -> None:
    target = wing.release("1.1.0")
    engine = tablet.engine()
    outcomes: list[Outcome] = []

    def notice() -> None:
        engine.offer(target, "1.1.0")
        outcomes.append(engine.run())

    threads = [threading.Thread(target=notice) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for _ in range(20):
        notice()
    assert tablet.slots.bootloader().installs == 1
    assert Outcome.REBOOT in outcomes
    assert engine.state().state == State.REBOOTING


def test_the_loop_guard_abandons_an_update_that_keeps_restarting(wing: Wing,
                                                                  tablet: Tablet) -> None:
    target = wing.release("1.1.0", size=256 * 1024)
    wing.hostile.rules[f"/targets/{target}"] = "cut:1000"
    first = tablet.engine()
    first.offer(target, "1.1.0")
    assert first.run() == Outcome.RETRY
    for _ in range(8):  # the agent dies and restarts again and again in the same state
        assert tablet.engine().run() == Outcome.RETRY
    last = tablet.engine()
    assert last.run() == Outcome.SETTLED
    assert last.state().state == State.FAILED
    assert "loop guard" in last.state().error
    tablet.record_unchanged()


def test_waiting_for_the_window_across_restarts_is_not_a_loop(wing: Wing,
                                                             tablet: Tablet) -> None:
    target = wing.release("1.1.0")
    closed = tablet.engine(window_open=lambda: False)
    closed.offer(target, "1.1.0")
    assert closed.run() == Outcome.WAITING
    for _ in range(20):
        assert tablet.engine(window_open=lambda: False).run() == Outcome.WAITING
    assert tablet.engine().run() == Outcome.REBOOT


def test_a_committed_release_is_the_floor_for_the_next_one(wing: Wing, tablet: Tablet) -> None:
    install_and_reboot(wing, tablet)
    tablet.slots.power_cycle()
    assert tablet.engine().run() == Outcome.SETTLED
    target = wing.release("1.2.0")
    engine = tablet.engine()
    engine.offer(target, "1.2.0")
    assert engine.run() == Outcome.REBOOT
    assert engine.state().from_slot == "B" and engine.state().to_slot == "A"


def test_a_committed_release_keeps_booting_across_many_reboots(wing: Wing,
                                                               tablet: Tablet) -> None:
    install_and_reboot(wing, tablet)
    tablet.slots.power_cycle()
    assert tablet.engine().run() == Outcome.SETTLED
    for _ in range(10):  # each boot, the agent starts and confirms the running slot
        assert tablet.slots.power_cycle() == "B"
        assert tablet.engine().run() == Outcome.SETTLED
    assert tablet.engine().state().state == State.COMMITTED


def test_an_unreadable_record_fails_the_update_without_touching_the_slots(
    wing: Wing, tablet: Tablet
) -> None:
    (tablet.config.work_dir).mkdir(parents=True, exist_ok=True)
    (tablet.config.work_dir / "update.json").write_text("{torn")
    engine = tablet.engine()
    assert engine.run() == Outcome.SETTLED
    assert engine.state().state == State.FAILED
    assert "record unreadable" in engine.state().error
    tablet.record_unchanged()


def test_a_committed_release_survives_reboots_while_the_gateway_is_unreachable(
    wing: Wing, tablet: Tablet
) -> None:
    install_and_reboot(wing, tablet)
    tablet.slots.power_cycle()
    assert tablet.engine().run() == Outcome.SETTLED
    for _ in range(5):
        assert tablet.slots.power_cycle() == "B"
        assert tablet.engine(health=lambda: False).run() == Outcome.SETTLED
    assert tablet.slots.version(tablet.slots.booted()) == "1.1.0"


def test_a_newer_offer_before_the_switch_supersedes_the_installed_one(wing: Wing,
                                                                       tablet: Tablet) -> None:
    first = wing.release("1.1.0")
    closed = tablet.engine(window_open=lambda: False)
    closed.offer(first, "1.1.0")
    assert closed.run() == Outcome.WAITING
    second = wing.release("1.2.0")
    closed.offer(second, "1.2.0")
    assert closed.run() == Outcome.WAITING
    record = closed.state()
    assert (record.state, record.version) == (State.INSTALLED, "1.2.0")
    assert tablet.slots.version("B") == "1.2.0"
    assert tablet.slots.bootloader().installs == 2
