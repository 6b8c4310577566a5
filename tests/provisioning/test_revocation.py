"""Revocation reaches the gateway too: `revoked.json` names the revoked tablets by id."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway.revoked_watch import RevokedWatch
from provisioning import estate as est
from tests.provisioning.conftest import WING, make_estate
from wire import revoked


@pytest.fixture
def estate(tmp_path: Path) -> est.Estate:
    return make_estate(tmp_path / "estate")


def revoked_path(estate: est.Estate) -> Path:
    return estate.broker_material(WING) / "revoked.json"


def test_revoke_lists_the_tablet_by_id_with_its_reason(estate: est.Estate) -> None:
    est.revoke(estate, "A", "lost", None)
    listed = revoked.parse(revoked_path(estate).read_bytes())
    assert [(t.tablet_id, t.reason, t.status) for t in listed.tablets] == [("A", "lost", "revoked")]
    assert listed.crl_number == 2


def test_the_watch_sees_a_revocation_made_after_it_started(estate: est.Estate) -> None:
    watch = RevokedWatch(revoked_path(estate))
    assert not watch.is_revoked("A")
    est.revoke(estate, "A", "lost", None)
    assert watch.is_revoked("A") and not watch.is_revoked("B")


def test_a_malformed_list_keeps_the_revocations_already_known(estate: est.Estate) -> None:
    est.revoke(estate, "A", "lost", None)
    watch = RevokedWatch(revoked_path(estate))
    revoked_path(estate).write_text("{garbage")
    os.utime(revoked_path(estate), ns=(1, 1))
    assert watch.is_revoked("A")


def test_a_shorter_list_does_not_unrevoke(estate: est.Estate) -> None:
    est.revoke(estate, "A", "lost", None)
    watch = RevokedWatch(revoked_path(estate))
    revoked_path(estate).write_text(revoked.empty(WING))
    assert watch.is_revoked("A")


def test_a_missing_list_stops_the_watch_from_starting(tmp_path: Path) -> None:
    with pytest.raises(revoked.RevokedListError, match="cannot read revoked list"):
        RevokedWatch(tmp_path / "absent.json")
