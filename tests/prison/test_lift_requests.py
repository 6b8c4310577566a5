"""Lifting the prison lockdown needs two people (prison/lift_requests.py), on both store backends:
a request waits; the one who asked cannot approve it (nor an OS or console account of the same
name); a second person's approval issues the unlock once, naming both; a request not approved
within 10 minutes lapses for good; a newer request replaces the one waiting."""

from __future__ import annotations

import pytest

from prison import lift_requests
from prison.lift_requests import APPROVE_WITHIN_MS, LiftError
from prison.store import Command, PrisonStore

ASKED_AT = 1_000_000


def issuer(store: PrisonStore, issued: list[Command]):  # type: ignore[no-untyped-def]
    def issue(both: str, reason: str) -> Command:
        command = store.add_command(lambda version: Command(
            version, False, both, reason, ASKED_AT, ASKED_AT + 60_000, b"signed"))
        issued.append(command)
        return command
    return issue


def test_a_request_waits_and_issues_nothing(store: PrisonStore) -> None:
    request = lift_requests.ask(store, "all clear", "os:alice", ASKED_AT)
    assert lift_requests.waiting(store, ASKED_AT + 1) == [request]
    assert store.latest_command() is None


@pytest.mark.parametrize("approver", ["os:alice", "console:alice", "Alice"])
def test_the_person_who_asked_cannot_approve_under_any_name(store: PrisonStore,
                                                            approver: str) -> None:
    request = lift_requests.ask(store, "all clear", "os:alice", ASKED_AT)
    issued: list[Command] = []
    with pytest.raises(LiftError, match="second, different person"):
        lift_requests.approve(store, request.id, approver, ASKED_AT + 1, issuer(store, issued))
    assert issued == [] and lift_requests.waiting(store, ASKED_AT + 1) == [request]


def test_a_second_person_issues_the_unlock_once_naming_both(store: PrisonStore) -> None:
    request = lift_requests.ask(store, "all clear", "os:alice", ASKED_AT)
    issued: list[Command] = []
    done, command = lift_requests.approve(store, request.id, "os:bob", ASKED_AT + 5,
                                          issuer(store, issued))
    assert (command.by, command.reason, command.locked) == ("os:alice+os:bob", "all clear", False)
    assert (done.answered_by, done.command_version) == ("os:bob", command.version)
    assert lift_requests.get(store, request.id) == done
    with pytest.raises(LiftError, match="nothing with this id waits"):
        lift_requests.approve(store, request.id, "os:carol", ASKED_AT + 6, issuer(store, issued))
    assert issued == [command]


def test_a_request_not_approved_within_ten_minutes_lapses(store: PrisonStore) -> None:
    request = lift_requests.ask(store, "all clear", "os:alice", ASKED_AT)
    late = ASKED_AT + APPROVE_WITHIN_MS + 1
    assert lift_requests.waiting(store, late) == []
    issued: list[Command] = []
    with pytest.raises(LiftError, match="lapsed"):
        lift_requests.approve(store, request.id, "os:bob", late, issuer(store, issued))
    assert issued == []


def test_a_newer_request_replaces_the_one_waiting(store: PrisonStore) -> None:
    first = lift_requests.ask(store, "one", "os:alice", ASKED_AT)
    second = lift_requests.ask(store, "two", "os:carol", ASKED_AT + 1)
    assert lift_requests.waiting(store, ASKED_AT + 2) == [second]
    with pytest.raises(LiftError, match="nothing with this id waits"):
        lift_requests.approve(store, first.id, "os:bob", ASKED_AT + 2, issuer(store, []))


def test_a_request_without_a_reason_is_refused(store: PrisonStore) -> None:
    with pytest.raises(ValueError, match="reason"):
        lift_requests.ask(store, "  ", "os:alice", ASKED_AT)
    assert lift_requests.waiting(store, ASKED_AT) == []


def test_an_unknown_request_is_refused_in_words(store: PrisonStore) -> None:
    with pytest.raises(LiftError, match="nothing with this id waits"):
        lift_requests.approve(store, "nope", "os:bob", ASKED_AT, issuer(store, []))
