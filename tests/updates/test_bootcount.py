"""The A/B boot-counter rules (`agent.updates.bootcount`), alone."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.updates import bootcount


@dataclass
class State:
    order: list[str] = field(default_factory=lambda: ["A", "B"])
    left: dict[str, int] = field(default_factory=lambda: {"A": 3, "B": 0})
    bad: list[str] = field(default_factory=list)
    booted: str = "A"
    boot_id: str = "first"
    boots: int = 1


def test_a_boot_spends_one_attempt_of_the_first_slot_in_order_and_gets_a_new_boot_id():
    state = State()
    assert bootcount.boot(state) == "A"
    assert (state.left["A"], state.boots) == (2, 2)
    assert state.boot_id != "first"


def test_an_activated_slot_boots_next_on_trial():
    state = State()
    bootcount.activate(state, "B", attempts=3)
    assert (state.order, bootcount.primary(state)) == (["B", "A"], "B")
    assert bootcount.boot(state) == "B"


def test_a_slot_never_marked_good_falls_back_once_its_attempts_are_spent():
    state = State()
    bootcount.activate(state, "B", attempts=2)
    assert [bootcount.boot(state) for _ in range(3)] == ["B", "B", "A"]


def test_mark_good_refills_the_attempts_so_the_new_slot_stays():
    state = State()
    bootcount.activate(state, "B", attempts=2)
    bootcount.boot(state)
    bootcount.mark_good(state, "B", attempts=2)
    assert bootcount.is_good(state, "B")
    assert [bootcount.boot(state) for _ in range(2)] == ["B", "B"]


def test_a_slot_marked_bad_is_not_good_and_not_booted():
    state = State()
    bootcount.activate(state, "B", attempts=3)
    bootcount.mark_bad(state, "B")
    assert not bootcount.is_good(state, "B")
    assert bootcount.boot(state) == "A"


def test_a_slot_without_a_bootable_image_is_skipped():
    state = State()
    bootcount.activate(state, "B", attempts=3)
    assert bootcount.boot(state, bootable=lambda slot: slot != "B") == "A"


def test_with_every_attempt_spent_the_first_slot_not_marked_bad_boots():
    state = State(left={"A": 0, "B": 0}, bad=["A"])
    assert bootcount.boot(state) == "B"
    assert state.left == {"A": 0, "B": 0}
