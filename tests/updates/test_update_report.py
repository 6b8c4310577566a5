"""What the agent reports of its updates: every reported state carries it (a lock's confirmation
among them), so building it must never wait on the slots (`rauc status` over D-Bus, a subprocess
that takes seconds while RAUC installs); the booted slot and its version are learnt once per boot,
in the engine's thread."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest

from agent.updates.service import UpdateService
from agent.updates.slots import SlotError
from tests.updates.support import Tablet


def service_of(tablet: Tablet, changes: list[int]) -> UpdateService:
    engine = tablet.engine()
    return UpdateService(tablet.config, now=engine.now, health=engine.health,
                         on_change=lambda: changes.append(1), engine=engine)


async def reached(service: UpdateService, condition: Callable[[], object]) -> None:
    for _ in range(250):
        await asyncio.sleep(0.02)
        if condition():
            return
    raise AssertionError(f"not reached: {service.report()}")


def run_briefly(service: UpdateService, *steps: Callable[[], Awaitable[None]]) -> None:
    """The service's loop running while `steps` run one after another on the same loop."""
    async def go() -> None:
        task = asyncio.create_task(service.run())
        try:
            for step in steps:
                await step()
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    asyncio.run(go())


def test_the_running_slot_and_version_are_reported_after_the_engines_first_run(
        tablet: Tablet) -> None:
    changes: list[int] = []
    service = service_of(tablet, changes)
    assert (service.report().slot, service.report().running) == ("", "")  # not asked yet
    # Learnt before the run; the agent is told to report again once the run is over.
    run_briefly(service, lambda: reached(service, lambda: service.report().running and changes))
    assert (service.report().slot, service.report().running) == ("A", "1.0.0")
    assert changes, "the agent was not told to send its report again"


def test_a_report_asks_the_slots_nothing(tablet: Tablet, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    changes: list[int] = []
    service = service_of(tablet, changes)
    # Until the engine's run is over (it asks the slots itself), then only reports.
    run_briefly(service, lambda: reached(service, lambda: service.report().running and changes))
    asked: list[str] = []

    def booted() -> str:
        asked.append("booted")
        return "A"

    def version(slot: str) -> str | None:
        asked.append("version")
        return "1.0.0"

    monkeypatch.setattr(tablet.slots, "booted", booted)
    monkeypatch.setattr(tablet.slots, "version", version)
    for _ in range(100):
        assert service.report().running == "1.0.0"
    assert asked == []


def test_slots_that_cannot_say_yet_are_asked_again_at_the_next_run(
        tablet: Tablet, monkeypatch: pytest.MonkeyPatch) -> None:
    service = service_of(tablet, [])
    real = tablet.slots.booted
    busy = [True]

    def booted() -> str:
        if busy[0]:
            raise SlotError("rauc status could not run: timed out")
        return real()

    monkeypatch.setattr(tablet.slots, "booted", booted)
    runs: list[int] = []
    real_run = service.engine.run

    def counted() -> object:
        runs.append(1)
        return real_run()

    monkeypatch.setattr(service.engine, "run", counted)

    async def while_busy() -> None:
        await reached(service, lambda: runs)
        assert service.report().running == ""

    async def once_free() -> None:
        busy[0] = False
        service.desired_changed(None)  # wakes the engine
        await reached(service, lambda: service.report().running)

    run_briefly(service, while_busy, once_free)
    assert (service.report().slot, service.report().running) == ("A", "1.0.0")
