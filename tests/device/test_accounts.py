"""The shell's account rules (device/accounts.py), pure: which account screen a state imposes,
and what each answer to a PIN change means on screen."""

from __future__ import annotations

import pytest

from device.accounts import account_screen, change_pin_message, typed
from tests.device.states import state
from wire.localapi import OccupantView, PersonReply, PersonView

JOHN = OccupantView(number="A1234BC", display="John S.")


@pytest.mark.parametrize(("occupants", "person", "shown"), [
    ((), None, "home"),  # a tablet without accounts has no PIN to change
    ((JOHN,), None, "signin"),  # nobody signed in: sign in first
    ((JOHN,), PersonView(number="A1234BC", display="John S."), None),  # stays
    ((JOHN,), PersonView(number="A1234BC", display="John S.", must_set_pin=True), "choosepin"),
])
def test_only_a_signed_in_person_with_a_pin_reaches_the_change_pin_screen(
        occupants, person, shown) -> None:
    assert account_screen(state(occupants=occupants, person=person), "changepin") == shown


@pytest.mark.parametrize(("reply", "said"), [
    (PersonReply(op="change_pin", outcome="wrong", attempts_left=1),
     "That is not your PIN now. 1 more try before you are locked out."),
    (PersonReply(op="change_pin", outcome="locked_out"),
     "You cannot sign in now. Ask a member of staff for a new code."),
    (PersonReply(op="change_pin", outcome="refused",
                 reason="the new PIN is the same as the old one"),
     "Your new PIN must be different from the old one."),
    (PersonReply(op="change_pin", outcome="refused", reason="a PIN has 6 to 12 digits"),
     "Your PIN needs 6 to 12 numbers."),
    (PersonReply(op="change_pin", outcome="ok"), ""),
])
def test_each_answer_to_a_pin_change_is_said_in_plain_words(reply, said) -> None:
    assert change_pin_message(reply) == said


@pytest.mark.parametrize("key", ["²", "١", "12", ""])
def test_only_a_single_ascii_digit_key_adds_to_the_pin(key: str) -> None:
    assert typed("12", key) == "12"
    assert typed("12", "3") == "123"
