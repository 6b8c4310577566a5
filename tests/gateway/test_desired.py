"""The pure rules of desired state: versions only grow, re-issues are new versions."""

from __future__ import annotations

from gateway.desired import (
    LockRequest,
    behind,
    first_desired,
    is_behind,
    needs_reissue,
    next_desired,
    next_lockdown,
    reissued,
)

NOW = 1_800_000_000_000
TTL = 60_000
LOCK = LockRequest(locked=True, by="officer", reason="search")


def test_the_first_desired_state_of_a_tablet_is_version_1_for_that_tablet_only():
    doc = next_desired(None, "T1", LOCK, NOW, TTL)
    assert (doc.version, doc.audience, doc.expires) == (1, "device:T1", NOW + TTL)
    assert doc.lock.locked and doc.lock.since == NOW


def test_each_change_is_one_version_higher_and_keeps_the_profile():
    first = next_desired(None, "T1", LOCK, NOW, TTL).model_copy(update={"profile": "enhanced"})
    second = next_desired(first, "T1", LockRequest(False, "officer", "done"), NOW + 5, TTL)
    assert second.version == first.version + 1
    assert second.profile == "enhanced"
    assert not second.lock.locked


def test_a_wing_lockdown_is_addressed_to_the_wing():
    doc = next_lockdown(None, "A", LOCK, NOW, TTL)
    assert (doc.version, doc.audience) == (1, "wing:A")
    assert next_lockdown(doc, "A", LOCK, NOW, TTL).version == 2


def test_a_reissue_is_a_new_version_with_the_same_content_and_a_fresh_window():
    doc = next_desired(None, "T1", LOCK, NOW, TTL)
    again = reissued(doc, NOW + 50_000, TTL)
    assert again.version == doc.version + 1
    assert (again.lock, again.audience, again.profile) == (doc.lock, doc.audience, doc.profile)
    assert (again.issued, again.expires) == (NOW + 50_000, NOW + 50_000 + TTL)


def test_a_document_needs_reissue_only_within_the_margin_of_its_expiry():
    assert not needs_reissue(NOW + 10_001, NOW, 10_000)
    assert needs_reissue(NOW + 10_000, NOW, 10_000)
    assert needs_reissue(NOW - 1, NOW, 10_000)


def test_a_tablet_is_behind_until_it_reports_the_desired_version_or_later():
    assert is_behind(3, None)
    assert is_behind(3, 2)
    assert not is_behind(3, 3)
    assert not is_behind(3, 4)
    assert behind({"T1": 2, "T2": 2, "T3": 1}, {"T1": 2, "T3": 0}) == ["T2", "T3"]


def test_the_next_version_is_newer_than_what_the_tablet_reports_applying() -> None:
    # The gateway lost its records: it holds version 1, the tablet applied version 7.
    doc = next_desired(next_desired(None, "T1", LOCK, NOW, TTL), "T1", LOCK, NOW, TTL, reported=7)
    assert doc.version == 8


def test_an_implausible_reported_version_is_ignored() -> None:
    doc = next_desired(None, "T1", LOCK, NOW, TTL, reported=2**53 - 1)
    assert doc.version == 1


def test_the_next_lockdown_is_newer_than_any_the_tablets_report_but_an_implausible_one() -> None:
    doc = next_lockdown(None, "A", LOCK, NOW, TTL, reported=[3, 9, 2**53 - 1])
    assert doc.version == 10


def test_a_reissue_is_newer_than_what_the_tablet_reports_applying() -> None:
    held = next_desired(None, "T1", LOCK, NOW, TTL)  # version 1; the tablet applied 7
    assert reissued(held, NOW + 1, TTL, reported=7).version == 8


def test_a_reissue_keeps_the_content_and_renews_the_window() -> None:
    held = next_desired(None, "T1", LOCK, NOW, TTL)
    again = reissued(held, NOW + 5, TTL)
    assert (again.version, again.lock, again.issued, again.expires) == (
        2, held.lock, NOW + 5, NOW + 5 + TTL)


def test_a_first_desired_state_is_newer_than_what_the_tablet_reports_applying() -> None:
    assert first_desired("T1", NOW, TTL, reported=41).version == 42


def test_a_reissue_ignores_an_implausible_report() -> None:
    held = next_desired(None, "T1", LOCK, NOW, TTL)
    assert reissued(held, NOW, TTL, reported=2**53 - 1).version == 2
