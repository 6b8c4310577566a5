"""An OS update end to end: release, publish, download over HTTPS, install, reboot, commit."""

from __future__ import annotations

from agent.updates.engine import Outcome
from agent.updates.states import State
from tests.updates.conftest import Wing
from tests.updates.support import Tablet


def test_a_signed_release_installs_switches_and_commits(wing: Wing, tablet: Tablet) -> None:
    target = wing.release("1.1.0")
    engine = tablet.engine()
    engine.offer(target, "1.1.0")

    assert engine.run() == Outcome.REBOOT
    assert engine.state().state == State.REBOOTING
    assert tablet.slots.power_cycle() == "B"

    after = tablet.engine()
    assert after.run() == Outcome.SETTLED
    record = after.state()
    assert record.state == State.COMMITTED
    assert tablet.slots.version("B") == "1.1.0"
    assert tablet.slots.bootloader().left["B"] == 3
    assert record.highest_version == "1.1.0"
