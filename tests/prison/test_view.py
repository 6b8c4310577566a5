"""What `--wait` names as not confirmed, per wing: the rule alone."""

from __future__ import annotations

from prison.store import TabletRow
from prison.view import unconfirmed
from wire.prison import Applied


def row(wing: str, device: str, lockdown_version: int) -> TabletRow:
    return TabletRow(wing, device, True, True, lockdown_version, "open", 1)


def test_a_wing_that_has_not_applied_the_command_is_named_as_a_wing() -> None:
    pending = unconfirmed(3, ["A", "B"], {"A": None, "B": Applied(command_version=2, at=1)}, {})
    assert pending == {"A": ["wing: has not applied command 3"],
                       "B": ["wing: has not applied command 3"]}


def test_tablets_behind_the_wing_lockdown_that_carries_it_are_named() -> None:
    applied = {"A": Applied(command_version=3, lockdown_version=7, targets=("A-1", "A-2", "A-3"),
                            at=1)}
    tablets = {"A": [row("A", "A-1", 7), row("A", "A-2", 6)]}  # A-3 never reported
    assert unconfirmed(3, ["A"], applied, tablets) == {"A": ["A-2", "A-3"]}
    tablets = {"A": [row("A", "A-1", 7), row("A", "A-2", 8), row("A", "A-3", 7)]}
    assert unconfirmed(3, ["A"], applied, tablets) == {}


def test_a_refusal_is_named_with_its_reason() -> None:
    applied = {"A": Applied(command_version=3, refused="expired: 5 ms ago", at=1)}
    assert unconfirmed(3, ["A"], applied, {}) == {
        "A": ["wing: refused command 3 (expired: 5 ms ago)"]}
