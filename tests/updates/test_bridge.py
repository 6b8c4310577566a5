"""The engine inside the agent: desired update targets in, reports to gateway and shell out."""

from __future__ import annotations

import datetime
from typing import get_args

from agent.updates.bridge import UpdateWindow, apply_desired, report_of, running_of, view_of
from agent.updates.engine import Outcome
from agent.updates.states import State
from tests.updates.conftest import Wing
from tests.updates.support import Tablet
from wire.documents import UpdateStateName, UpdateTarget


def now_ms() -> int:
    return int(datetime.datetime.now(datetime.UTC).timestamp() * 1000)


def test_the_wire_names_every_engine_state() -> None:
    assert set(get_args(UpdateStateName)) == {s.value for s in State}


def test_the_switch_waits_for_the_window_named_in_the_desired_state(wing: Wing,
                                                                   tablet: Tablet) -> None:
    target = wing.release("1.1.0")
    window = UpdateWindow()
    engine = tablet.engine(window_open=lambda: window.is_open(now_ms()))
    later = now_ms() + 3_600_000
    apply_desired(engine, window, UpdateTarget(target=target, version="1.1.0",
                                               window_start=later, window_end=later + 60_000))
    assert engine.run() == Outcome.WAITING
    shell = view_of(engine.state())
    assert shell.state == "installed" and "during the night" in shell.message
    apply_desired(engine, window, UpdateTarget(target=target, version="1.1.0",
                                               window_start=now_ms() - 1000,
                                               window_end=now_ms() + 60_000))
    assert engine.run() == Outcome.REBOOT


def test_a_withdrawn_update_is_abandoned_before_the_switch(wing: Wing, tablet: Tablet) -> None:
    target = wing.release("1.1.0")
    window = UpdateWindow(start_ms=0, end_ms=1)  # closed
    engine = tablet.engine(window_open=lambda: window.is_open(now_ms()))
    apply_desired(engine, window, UpdateTarget(target=target, version="1.1.0",
                                               window_start=0, window_end=1))
    assert engine.run() == Outcome.WAITING
    apply_desired(engine, window, None)
    assert engine.run() == Outcome.SETTLED
    assert engine.state().state == State.FAILED
    assert "withdrawn" in engine.state().error
    assert tablet.slots.bootloader().left["B"] == 0
    assert tablet.slots.booted() == "A"


def test_the_gateway_sees_state_version_slot_and_error(wing: Wing, tablet: Tablet) -> None:
    target = wing.release("1.1.0")
    engine = tablet.engine()
    apply_desired(engine, UpdateWindow(), UpdateTarget(target=target, version="1.1.0"))
    engine.run()
    report = report_of(engine.state(), running_of(tablet.slots))
    assert (report.state, report.target, report.version, report.running, report.slot) == (
        "rebooting", target, "1.1.0", "1.0.0", "A")
    tablet.slots.power_cycle()
    after = tablet.engine()
    after.run()
    report = report_of(after.state(), running_of(tablet.slots))
    assert (report.state, report.running, report.slot) == ("committed", "1.1.0", "B")
