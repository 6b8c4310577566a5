"""The prisoner-account contract: numbers, PINs, verifiers and person events."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from pydantic import ValidationError

from wire.documents import DesiredState, LockOrder
from wire.prisoners import (
    MAX_OCCUPANTS,
    Occupant,
    Occupants,
    PersonEvent,
    Settings,
    check_pin,
    check_prison_number,
)

EVENT_ID = "0" * 32


@pytest.mark.parametrize("number", ["A1234BC", "Z0000ZZ"])
def test_prison_numbers_in_the_rolls_format_are_accepted(number: str) -> None:
    assert check_prison_number(number) == number


@pytest.mark.parametrize("number", ["a1234bc", "A123BC", "A1234B", "AB1234C", " A1234BC", ""])
def test_other_prison_numbers_are_refused_saying_how_to_write_one(number: str) -> None:
    with pytest.raises(ValueError, match="like A1234BC"):
        check_prison_number(number)


@pytest.mark.parametrize(
    ("pin", "why"),
    [("12345", "6 to 12"), ("1234567890123", "6 to 12"), ("12a456", "digits only"),
     ("１２３４５６", "digits only"), ("000000", "repeated")],
)
def test_weak_or_malformed_pins_are_refused_in_plain_words(pin: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_pin(pin)


def test_an_argon2id_hash_from_argon2_cffi_is_a_verifier() -> None:
    verifier = PasswordHasher().hash("493817")
    assert Occupant(number="A1234BC", display="John S.", verifier=verifier).verifier == verifier


@pytest.mark.parametrize("verifier", ["493817", "$argon2i$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"])
def test_a_plain_pin_or_another_hash_kind_is_not_a_verifier(verifier: str) -> None:
    with pytest.raises(ValidationError):
        Occupant(number="A1234BC", display="John S.", verifier=verifier)


def test_a_cell_names_each_person_once_and_at_most_max_occupants() -> None:
    person = Occupant(number="A1234BC", display="John S.")
    with pytest.raises(ValidationError, match="named twice"):
        Occupants(people=(person, person))
    many = tuple(
        Occupant(number=f"A{n:04d}BC", display="X Y.") for n in range(MAX_OCCUPANTS + 1))
    with pytest.raises(ValidationError):
        Occupants(people=many)


def test_desired_state_without_occupants_means_nobody_may_sign_in() -> None:
    desired = DesiredState(
        audience="device:T-0001", version=1, issued=0, expires=1,
        lock=LockOrder(locked=False, by="x", reason="", since=0))
    assert desired.occupants.people == ()


@pytest.mark.parametrize(
    "kind", ["signed_out", "pin_set", "settings", "lesson"])
def test_a_person_event_without_the_fields_of_its_kind_is_refused(kind: str) -> None:
    with pytest.raises(ValidationError, match="lacks its fields"):
        PersonEvent(id=EVENT_ID, kind=kind, person="A1234BC", at=1)  # type: ignore[arg-type]


def test_settings_accept_only_the_shells_text_sizes() -> None:
    assert Settings(text_scale=150).text_scale == 150
    with pytest.raises(ValidationError, match="text_scale"):
        Settings(text_scale=300)


def test_a_desired_state_with_occupants_and_their_settings_can_be_signed() -> None:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from wire.envelope import seal

    person = Occupant(number="A1234BC", display="John S.",
                      settings=Settings(language="pl", text_scale=150, theme="high_contrast"))
    desired = DesiredState(
        audience="device:T-0001", version=1, issued=0, expires=1,
        lock=LockOrder(locked=False, by="x", reason="", since=0),
        occupants=Occupants(people=(person,)))
    assert seal(desired, Ed25519PrivateKey.generate())
