"""The persisted update record when it cannot be trusted: unreadable, corrupt, or written by a
newer agent. Unknown progress never commits a slot: a slot that may be on trial is rolled back,
and the record that could not be read is kept for the audit."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from agent.updates.engine import Outcome
from agent.updates.service import UpdateService
from agent.updates.slots import SlotError
from agent.updates.states import State
from agent.updates.store import (
    SCHEMA_VERSION,
    NewerRecord,
    StoreError,
    UpdateRecord,
    UpdateStore,
    upgrade,
)
from tests.support.agents import TestSigner
from tests.updates.conftest import Wing
from tests.updates.support import PowerCut, Tablet
from wire.documents import UpdateTarget


def on_trial_boot(wing: Wing, tablet: Tablet) -> None:
    """Install 1.1.0 into slot B and boot it on trial (not yet marked good)."""
    target = wing.release("1.1.0")
    engine = tablet.engine()
    engine.offer(target, "1.1.0")
    assert engine.run() == Outcome.REBOOT
    assert tablet.slots.power_cycle() == "B"
    assert tablet.slots.bootloader().left["B"] == tablet.slots.attempts - 1


def record_file(tablet: Tablet) -> Path:
    return tablet.config.work_dir / "update.json"


def assert_rolled_back_not_committed(tablet: Tablet, reason: str) -> None:
    """The trial slot was never marked good: it is marked bad, the tablet reboots into the old
    slot, and the rollback is recorded with why."""
    engine = tablet.engine()
    assert engine.run() == Outcome.REBOOT
    boot = tablet.slots.bootloader()
    assert boot.left["B"] == 0 and "B" in boot.bad
    assert engine.state().state == State.REBOOTING
    assert reason in engine.state().error

    assert tablet.slots.power_cycle() == "A"
    back = tablet.engine()
    assert back.run() == Outcome.SETTLED
    record = back.state()
    assert record.state == State.ROLLED_BACK
    assert reason in record.error
    assert tablet.slots.bootloader().left["A"] == tablet.slots.attempts
    assert tablet.slots.power_cycle() == "A"


def test_an_unreadable_record_on_a_trial_boot_rolls_back_and_is_kept_for_the_audit(
    wing: Wing, tablet: Tablet
) -> None:
    on_trial_boot(wing, tablet)
    record_file(tablet).write_text("{torn")
    assert_rolled_back_not_committed(tablet, "record unreadable")
    assert (tablet.config.work_dir / "update.json.unreadable").read_text() == "{torn"


def test_a_power_cut_while_an_unreadable_record_is_replaced_leaves_it_to_find_again(
    wing: Wing, tablet: Tablet, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_trial_boot(wing, tablet)
    record_file(tablet).write_text("{torn")
    engine = tablet.engine()

    def cut(record: UpdateRecord) -> None:
        raise PowerCut("saving the record")

    monkeypatch.setattr(engine.store, "save", cut)
    with pytest.raises(PowerCut):
        engine.run()
    assert record_file(tablet).read_text() == "{torn"
    assert "B" not in tablet.slots.bootloader().bad
    assert_rolled_back_not_committed(tablet, "record unreadable")


def test_a_record_that_fails_validation_on_a_trial_boot_rolls_back(wing: Wing,
                                                                   tablet: Tablet) -> None:
    on_trial_boot(wing, tablet)
    record_file(tablet).write_text(json.dumps({"state": "trial_boot", "to_slot": 7}))
    assert_rolled_back_not_committed(tablet, "record unreadable")


def test_a_record_from_a_newer_agent_on_a_trial_boot_is_refused_not_guessed_at(
    wing: Wing, tablet: Tablet
) -> None:
    on_trial_boot(wing, tablet)
    data = json.loads(record_file(tablet).read_text())
    record_file(tablet).write_text(json.dumps({**data, "schema_version": SCHEMA_VERSION + 1}))
    assert_rolled_back_not_committed(tablet, f"version {SCHEMA_VERSION + 1}")


def test_an_unreadable_record_beside_a_slot_that_cannot_boot_confirms_the_only_good_slot(
    wing: Wing, tablet: Tablet
) -> None:
    """After a failed trial the other slot is marked bad: the running slot cannot be on trial
    (a trial always has a good slot to fall back to), so it is confirmed, not rolled away."""
    on_trial_boot(wing, tablet)
    assert tablet.engine(health=lambda: False).run() == Outcome.REBOOT
    assert tablet.slots.power_cycle() == "A"
    assert tablet.engine().run() == Outcome.SETTLED
    record_file(tablet).write_text("{torn")
    for _ in range(tablet.slots.attempts + 1):
        assert tablet.slots.power_cycle() == "A"
        engine = tablet.engine()
        assert engine.run() == Outcome.SETTLED
        assert engine.state().state == State.FAILED
        assert "record unreadable" in engine.state().error
        assert tablet.slots.bootloader().left["A"] == tablet.slots.attempts


def test_an_offer_does_not_overwrite_an_unreadable_record(wing: Wing, tablet: Tablet) -> None:
    """A notice of the desired state arriving before the engine runs still leaves the slot on
    trial unconfirmed: the offer is kept, the unknown progress is not forgotten."""
    on_trial_boot(wing, tablet)
    record_file(tablet).write_text("{torn")
    engine = tablet.engine()
    engine.offer("os/cellbridge-1.2.0.raucb", "1.2.0")
    assert engine.run() == Outcome.REBOOT
    assert "B" in tablet.slots.bootloader().bad
    assert engine.state().pending is not None


def test_while_the_slots_cannot_be_asked_the_unreadable_record_stays_and_nothing_commits(
    wing: Wing, tablet: Tablet
) -> None:
    on_trial_boot(wing, tablet)
    record_file(tablet).write_text("{torn")
    bootloader = tablet.slots.dir / "bootloader.json"
    saved = bootloader.read_bytes()
    bootloader.write_text("{")  # the slot backend fails (RAUC's service restarting)

    engine = tablet.engine()
    with pytest.raises(SlotError):
        engine.run()
    service = UpdateService(tablet.config, now=engine.now, health=engine.health,
                            on_change=lambda: None, engine=engine)
    assert service.view().state == "failed"
    assert "slots unavailable" in service.report().error
    service.desired_changed(None)  # noted later, when the engine can decide
    assert record_file(tablet).read_text() == "{torn"

    bootloader.write_bytes(saved)
    assert_rolled_back_not_committed(tablet, "record unreadable")


# ---------------------------------------------------------------- the record's schema


def test_a_record_is_written_with_its_schema_version(tmp_path: Path) -> None:
    store = UpdateStore(tmp_path / "update.json")
    store.save(UpdateRecord(state=State.COMMITTED, version="1.1.0"))
    assert json.loads((tmp_path / "update.json").read_text())["schema_version"] == SCHEMA_VERSION


def test_a_record_without_a_version_is_version_1(tmp_path: Path) -> None:
    path = tmp_path / "update.json"
    path.write_text(json.dumps({"state": "committed", "version": "1.1.0", "resumes": 2}))
    record = UpdateStore(path).load()
    assert (record.schema_version, record.state, record.version, record.resumes) == (
        1, State.COMMITTED, "1.1.0", 2)


def test_a_record_from_a_newer_agent_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "update.json"
    path.write_text(json.dumps({"schema_version": SCHEMA_VERSION + 1, "state": "committed"}))
    with pytest.raises(NewerRecord, match=f"version {SCHEMA_VERSION + 1}"):
        UpdateStore(path).load()


@pytest.mark.parametrize("version", [0, -1, "1", 1.5, None, True])
def test_a_record_with_a_nonsense_version_is_unreadable(tmp_path: Path, version: Any) -> None:
    path = tmp_path / "update.json"
    path.write_text(json.dumps({"schema_version": version, "state": "committed"}))
    with pytest.raises(StoreError):
        UpdateStore(path).load()


def test_migrations_run_in_order_from_the_records_version(tmp_path: Path) -> None:
    steps = {1: lambda data: {**data, "b": data["a"] + 1},
             2: lambda data: {**data, "c": data["b"] * 10}}
    assert upgrade({"a": 1}, steps, current=3) == {"a": 1, "b": 2, "c": 20,
                                                   "schema_version": 3}
    assert upgrade({"schema_version": 2, "b": 5}, steps, current=3) == {
        "b": 5, "c": 50, "schema_version": 3}
    with pytest.raises(NewerRecord):
        upgrade({"schema_version": 4}, steps, current=3)
    with pytest.raises(StoreError, match="no migration"):
        upgrade({"a": 1}, {}, current=2)


# ---------------------------------------------------------------- a slot tool failing at the switch


def test_a_switch_the_slots_cannot_make_is_retried_and_staff_see_why(
    wing: Wing, tablet: Tablet, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Installed, but the boot id cannot be read (the agent's sandbox hid /proc/sys once): the
    record stays `installed`, nothing is activated, and the report says why it does not move on
    instead of looking merely slow."""
    target = wing.release("1.1.0")

    def unreadable() -> str:
        raise SlotError("boot id unreadable: [Errno 2] No such file or directory")

    monkeypatch.setattr(tablet.slots, "boot_id", unreadable)
    engine = tablet.engine()
    service = UpdateService(tablet.config, now=engine.now, health=engine.health,
                            on_change=lambda: None, engine=engine)
    service.desired_changed(TestSigner().first("t1").model_copy(
        update={"update": UpdateTarget(target=target, version="1.1.0")}))

    async def until_reported() -> str:
        task = asyncio.create_task(service.run())
        try:
            for _ in range(400):
                await asyncio.sleep(0.05)
                if service.report().error:
                    return service.report().error
            raise AssertionError(f"no error reported: {service.report()}")
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    error = asyncio.run(until_reported())
    assert "boot id unreadable" in error and "will retry" in error
    assert service.report().state == "installed"
    assert tablet.slots.bootloader().left["B"] == 0  # never activated
    assert not tablet.slots.bootloader().reboot_requested
