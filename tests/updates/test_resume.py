"""The resume table, row by row: for each persisted state, what a restarted engine does, with the
failures that can meet it there (the network still down, a bundle that lost bytes, the window
closed, a boot that never happened, a failed health check, the loop guard, a record that cannot
be read).

Each row leaves a real record in its state (the engine dies right after saving it: a power cut),
injects its failure, starts a fresh engine and checks the outcome, the state it settles in and
what the bootloader was told."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from agent.updates.engine import Outcome, UpdateEngine
from agent.updates.states import RESUME, SETTLED, State
from agent.updates.store import UpdateRecord, UpdateStore
from tests.updates.conftest import Wing
from tests.updates.support import PowerCut, Tablet, cut_power_in

VERSION = "1.1.0"


@dataclass
class Setup:
    wing: Wing
    tablet: Tablet
    target: str = ""

    def store(self) -> UpdateStore:
        return UpdateStore(self.tablet.config.work_dir / "update.json")

    def record(self) -> UpdateRecord:
        return self.store().load()

    def bundle_requests(self) -> list[str]:
        return [r[1] for r in self.wing.hostile.requests if r[0] == f"/targets/{self.target}"]


def reach(setup: Setup, state: State) -> None:
    """Leave the tablet with a persisted record in `state`."""
    wing, tablet = setup.wing, setup.tablet
    if state == State.IDLE:
        return
    if state == State.FAILED:
        setup.target = wing.release(VERSION, compatible="another-tablet")
        engine = tablet.engine()
        engine.offer(setup.target, VERSION)
        assert engine.run() == Outcome.SETTLED
        return
    setup.target = wing.release(VERSION, size=256 * 1024)
    if state == State.DOWNLOADING:  # the network dies halfway
        wing.hostile.rules[f"/targets/{setup.target}"] = "cut:100000"
        engine = tablet.engine()
        engine.offer(setup.target, VERSION)
        assert engine.run() == Outcome.RETRY
    elif state in (State.VERIFIED, State.INSTALLING, State.INSTALLED):
        engine = tablet.engine(report=cut_power_in(state))
        engine.offer(setup.target, VERSION)
        with pytest.raises(PowerCut):
            engine.run()
    else:
        engine = tablet.engine()
        engine.offer(setup.target, VERSION)
        assert engine.run() == Outcome.REBOOT  # activated, reboot asked for
        if state == State.REBOOTING:
            return
        assert tablet.slots.power_cycle() == "B"
        if state == State.TRIAL_BOOT:
            with pytest.raises(PowerCut):
                tablet.engine(report=cut_power_in(State.TRIAL_BOOT)).run()
        elif state == State.COMMITTED:
            assert tablet.engine().run() == Outcome.SETTLED
        else:
            assert state == State.ROLLED_BACK
            assert tablet.engine(health=lambda: False).run() == Outcome.REBOOT
            assert tablet.slots.power_cycle() == "A"
            assert tablet.engine().run() == Outcome.SETTLED
    assert setup.record().state == state


# ---------------------------------------------------------------- injected failures


def network_back(setup: Setup) -> None:
    setup.wing.hostile.rules.pop(f"/targets/{setup.target}", None)


def bundle_lost(setup: Setup) -> None:
    [kept] = (setup.tablet.config.work_dir / "download").glob("*.raucb")
    with open(kept, "r+b") as f:  # the download is not fsynced: its tail never reached storage
        f.truncate(kept.stat().st_size // 2)


def boot(setup: Setup) -> None:
    setup.tablet.slots.power_cycle()


def boots_die(setup: Setup) -> None:
    """The new slot dies on every boot before the agent starts, until its attempts are spent."""
    boots = [setup.tablet.slots.power_cycle() for _ in range(setup.tablet.slots.attempts + 1)]
    assert boots[-1] == "A" and "B" in boots


def restarted_too_often(setup: Setup) -> None:
    record = setup.record()
    record.resumes = 8  # EngineConfig.max_resumes: this restart is one too many
    setup.store().save(record)


def unreadable(setup: Setup) -> None:
    (setup.tablet.config.work_dir / "update.json").write_text("{torn")


def nothing(setup: Setup) -> None:
    pass


# ---------------------------------------------------------------- checks on the bootloader


def confirmed(slot: str) -> Callable[[Setup], None]:
    def check(setup: Setup) -> None:
        boot = setup.tablet.slots.bootloader()
        assert boot.booted == slot and boot.left[slot] == setup.tablet.slots.attempts
    return check


def marked_bad(slot: str) -> Callable[[Setup], None]:
    def check(setup: Setup) -> None:
        boot = setup.tablet.slots.bootloader()
        assert slot in boot.bad and boot.left[slot] == 0
        assert boot.reboot_requested
    return check


def activated(slot: str) -> Callable[[Setup], None]:
    def check(setup: Setup) -> None:
        boot = setup.tablet.slots.bootloader()
        assert boot.order[0] == slot and boot.left[slot] == setup.tablet.slots.attempts
        assert boot.reboot_requested and boot.installs == 1
    return check


def downloaded_again(setup: Setup) -> None:
    assert setup.bundle_requests() == ["", ""]


def not_downloaded_again(setup: Setup) -> None:
    assert setup.bundle_requests() == [""]


@dataclass(frozen=True)
class Row:
    state: State
    inject: Callable[[Setup], None]
    outcome: Outcome
    after: State
    checks: tuple[Callable[[Setup], None], ...] = ()
    error: str = ""
    engine: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.state}-{self.inject.__name__}"


ROWS = [
    Row(State.IDLE, nothing, Outcome.SETTLED, State.IDLE, (confirmed("A"),)),
    Row(State.DOWNLOADING, nothing, Outcome.RETRY, State.DOWNLOADING, (confirmed("A"),),
        error="download interrupted"),
    Row(State.DOWNLOADING, network_back, Outcome.REBOOT, State.REBOOTING, (activated("B"),)),
    Row(State.DOWNLOADING, restarted_too_often, Outcome.SETTLED, State.FAILED,
        (confirmed("A"),), error="loop guard"),
    Row(State.VERIFIED, nothing, Outcome.REBOOT, State.REBOOTING,
        (activated("B"), not_downloaded_again)),
    Row(State.VERIFIED, bundle_lost, Outcome.REBOOT, State.REBOOTING,
        (activated("B"), downloaded_again)),
    Row(State.VERIFIED, restarted_too_often, Outcome.SETTLED, State.FAILED,
        (confirmed("A"),), error="loop guard"),
    Row(State.INSTALLING, nothing, Outcome.REBOOT, State.REBOOTING,
        (activated("B"), not_downloaded_again)),
    Row(State.INSTALLING, bundle_lost, Outcome.REBOOT, State.REBOOTING,
        (activated("B"), downloaded_again)),
    Row(State.INSTALLING, restarted_too_often, Outcome.SETTLED, State.FAILED,
        (confirmed("A"),), error="loop guard"),
    Row(State.INSTALLED, nothing, Outcome.WAITING, State.INSTALLED, (confirmed("A"),),
        engine={"window_open": lambda: False}),
    Row(State.INSTALLED, restarted_too_often, Outcome.WAITING, State.INSTALLED,
        (confirmed("A"),), engine={"window_open": lambda: False}),
    Row(State.INSTALLED, nothing, Outcome.REBOOT, State.REBOOTING, (activated("B"),)),
    Row(State.REBOOTING, nothing, Outcome.REBOOT, State.REBOOTING, (activated("B"),)),
    Row(State.REBOOTING, boot, Outcome.SETTLED, State.COMMITTED, (confirmed("B"),)),
    Row(State.REBOOTING, boot, Outcome.REBOOT, State.REBOOTING, (marked_bad("B"),),
        error="health check failed", engine={"health": lambda: False}),
    Row(State.REBOOTING, boots_die, Outcome.SETTLED, State.ROLLED_BACK, (confirmed("A"),),
        error="never reached mark-good"),
    Row(State.TRIAL_BOOT, nothing, Outcome.SETTLED, State.COMMITTED, (confirmed("B"),)),
    Row(State.TRIAL_BOOT, nothing, Outcome.REBOOT, State.REBOOTING, (marked_bad("B"),),
        error="health check failed", engine={"health": lambda: False}),
    Row(State.TRIAL_BOOT, boots_die, Outcome.SETTLED, State.ROLLED_BACK, (confirmed("A"),),
        error="did not reach mark-good"),
    Row(State.TRIAL_BOOT, restarted_too_often, Outcome.REBOOT, State.REBOOTING,
        (marked_bad("B"),), error="loop guard"),
    Row(State.TRIAL_BOOT, unreadable, Outcome.REBOOT, State.REBOOTING, (marked_bad("B"),),
        error="record unreadable"),
    Row(State.COMMITTED, boot, Outcome.SETTLED, State.COMMITTED, (confirmed("B"),)),
    Row(State.COMMITTED, unreadable, Outcome.REBOOT, State.REBOOTING, (marked_bad("B"),),
        error="may be an update on trial"),
    Row(State.ROLLED_BACK, boot, Outcome.SETTLED, State.ROLLED_BACK, (confirmed("A"),)),
    Row(State.ROLLED_BACK, unreadable, Outcome.SETTLED, State.FAILED, (confirmed("A"),),
        error="record unreadable"),
    Row(State.FAILED, nothing, Outcome.SETTLED, State.FAILED, (confirmed("A"),)),
    Row(State.FAILED, unreadable, Outcome.SETTLED, State.FAILED, (confirmed("A"),),
        error="record unreadable"),
]


def test_every_state_has_a_resume_row_and_a_tested_one() -> None:
    assert set(RESUME) == set(State)
    assert {row.state for row in ROWS} == set(State)
    assert {State.IDLE, State.COMMITTED, State.ROLLED_BACK, State.FAILED} == SETTLED
    assert {s for s, resume in RESUME.items() if resume.guarded} == set(State) - SETTLED - {
        State.INSTALLED}


@pytest.mark.parametrize("row", ROWS, ids=str)
def test_resume(row: Row, wing: Wing, tablet: Tablet) -> None:
    setup = Setup(wing, tablet)
    reach(setup, row.state)
    row.inject(setup)
    engine: UpdateEngine = tablet.engine(
        now=lambda: datetime.datetime.now(datetime.UTC), **row.engine)
    assert engine.run() == row.outcome
    record = engine.state()
    assert record.state == row.after, record
    assert row.error in record.error
    for check in row.checks:
        check(setup)
