"""Lifting the wing lockdown from the CLI needs two people, as in the console: `staff unlock
--wing` only asks (nothing is sent, the tablets stay locked, the request is audited); the same OS
account cannot approve it, whatever it types; a second account's `staff unlock approve ID` lifts
it with both named in the signed document and the audit. A real gateway and broker; throwaway OS
accounts on the control API's socket."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.support.gateway import Gateway
from tests.support.os_accounts import Account, MakeAccount, as_account, needs_root

pytestmark = [pytest.mark.timeout(120), needs_root]


@pytest.fixture
def wing(make_gateway: Callable[..., Gateway], staff_group: str) -> Gateway:
    """A gateway whose socket the staff group may use, its wing locked down, T3 also locked on
    its own."""
    gateway = make_gateway(api_group=staff_group)
    assert gateway.cli("lock", "--device", "T3", "--reason", "search").returncode == 0
    assert gateway.cli("lock", "--wing", "--reason", "incident").returncode == 0
    return gateway


def staff(account: Account, gateway: Gateway, *args: str) -> dict[str, Any]:
    result = as_account(account, gateway, "staff", *args, "--json")
    assert result.returncode == 0, result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def lockdown_on(gateway: Gateway) -> bool:
    tablets = gateway.staff_json("status")["tablets"]
    return all(t["lockdown"]["locked"] for t in tablets)


def actions(gateway: Gateway, *names: str) -> list[dict[str, Any]]:
    return [e for e in gateway.staff_json("audit")["entries"] if e["action"] in names]


def test_unlocking_the_wing_only_asks_and_the_tablets_stay_locked(
    wing: Gateway, make_account: MakeAccount, staff_group: str,
) -> None:
    alice = make_account(staff_group)
    asked = staff(alice, wing, "unlock", "--wing", "--reason", "all clear")

    waiting = asked["awaiting_approval"]
    assert (waiting["action"], waiting["requested_by"]) == ("unlock_wing", f"os:{alice.name}")
    assert lockdown_on(wing)
    [entry] = actions(wing, "two_person_request")
    assert (entry["actor"], entry["detail"]["id"]) == (f"staff:os:{alice.name}", waiting["id"])
    assert staff(alice, wing, "unlock", "--wing", "--reason", "again")["awaiting_approval"][
        "id"] != waiting["id"]


def test_the_account_that_asked_cannot_approve_its_own_lift(
    wing: Gateway, make_account: MakeAccount, staff_group: str,
) -> None:
    alice = make_account(staff_group)
    waiting = staff(alice, wing, "unlock", "--wing", "--reason", "all clear")["awaiting_approval"]

    refused = as_account(alice, wing, "staff", "unlock", "approve", waiting["id"])

    assert refused.returncode == 2
    assert refused.stderr == "Error: a second, different person must approve this\n"
    assert lockdown_on(wing)
    assert [e["detail"]["status"] for e in actions(wing, "api_refused")] == [409]


def test_a_second_account_lifts_the_lockdown_naming_both_and_says_what_stays_locked(
    wing: Gateway, make_account: MakeAccount, staff_group: str,
) -> None:
    alice, bob = make_account(staff_group), make_account(staff_group)
    waiting = staff(alice, wing, "unlock", "--wing", "--reason", "all clear")["awaiting_approval"]

    result = as_account(bob, wing, "staff", "unlock", "approve", waiting["id"], "--json")

    assert result.returncode == 0, result.stderr
    lifted = json.loads(result.stdout)
    both = f"os:{alice.name}+os:{bob.name}"
    assert lifted["by"] == both
    assert lifted["still_locked"] == ["T3"]
    assert result.stderr == ("Warning: T3 remain(s) locked by their own lock: lift it with "
                             "`staff unlock --device ID`\n")
    assert not any(t["lockdown"]["locked"] for t in wing.staff_json("status")["tablets"])
    [approval] = actions(wing, "two_person_approve")
    assert approval["actor"] == f"staff:os:{bob.name}"
    assert approval["detail"]["requested_by"] == f"staff:os:{alice.name}"
    assert any(both in json.dumps(e) for e in actions(wing, "unlock"))


def test_an_approval_nobody_asked_for_is_refused_in_words(
    wing: Gateway, make_account: MakeAccount, staff_group: str,
) -> None:
    bob = make_account(staff_group)

    refused = as_account(bob, wing, "staff", "unlock", "approve", "no-such-request")

    assert refused.returncode == 2
    assert refused.stderr == ("Error: nothing with this id waits for approval (done or "
                              "lapsed)\n")
    assert lockdown_on(wing)
