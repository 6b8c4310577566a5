"""Retention: old audit entries are archived behind a checkpoint, never just deleted, so the whole
history still verifies; the live chain carries on from the checkpoint."""

from __future__ import annotations

import gzip
import json

import pytest

from gateway.retention import archive_audit, checkpoints, compact, verify_archives
from gateway.store import Audit, Store

DAY = 86_400_000


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "gateway.db")
    for day in range(10):
        s.append(Audit(day * DAY, "staff:ann", "lock", f"device:T-{day}", {"day": day}))
    yield s
    s.close()


def test_entries_before_the_cut_move_to_an_archive_and_the_history_still_verifies(tmp_path, store):
    point = archive_audit(store, tmp_path / "archive", before_ms=4 * DAY, now_ms=10 * DAY)

    assert point is not None and (point.first, point.last) == (1, 4)
    assert [e.seq for e in store.audit_entries(None)] == [5, 6, 7, 8, 9, 10]
    with gzip.open(tmp_path / "archive" / point.archive, "rt") as lines:
        assert [json.loads(line)["seq"] for line in lines] == [1, 2, 3, 4]
    assert store.verify_audit().ok
    whole = verify_archives(store, tmp_path / "archive")
    assert whole.ok and whole.entries == 10


def test_the_chain_continues_from_the_checkpoint_after_reopening(tmp_path, store):
    archive_audit(store, tmp_path / "archive", before_ms=4 * DAY, now_ms=10 * DAY)
    store.close()
    reopened = Store(tmp_path / "gateway.db")
    try:
        reopened.append(Audit(11 * DAY, "staff:ann", "unlock", "device:T-1"))
        assert reopened.audit_entries(1)[0].seq == 11
        assert reopened.verify_audit().ok
        assert verify_archives(reopened, tmp_path / "archive").entries == 11
    finally:
        reopened.close()


def test_the_newest_entry_is_never_archived(tmp_path, store):
    point = archive_audit(store, tmp_path / "archive", before_ms=100 * DAY, now_ms=100 * DAY)

    assert point is not None and point.last == 9
    assert [e.seq for e in store.audit_entries(None)] == [10]
    assert verify_archives(store, tmp_path / "archive").ok


def test_a_second_compaction_chains_onto_the_first(tmp_path, store):
    archive = tmp_path / "archive"
    compact(store, archive, keep_ms=7 * DAY, now_ms=10 * DAY)
    compact(store, archive, keep_ms=3 * DAY, now_ms=10 * DAY, vacuum=True)

    assert [(c.first, c.last) for c in checkpoints(store)] == [(1, 3), (4, 7)]
    assert verify_archives(store, archive).entries == 10


def test_nothing_old_enough_changes_nothing(tmp_path, store):
    assert archive_audit(store, tmp_path / "archive", before_ms=0, now_ms=10 * DAY) is None
    assert len(store.audit_entries(None)) == 10


def test_an_altered_archive_is_reported(tmp_path, store):
    point = archive_audit(store, tmp_path / "archive", before_ms=4 * DAY, now_ms=10 * DAY)
    assert point is not None
    path = tmp_path / "archive" / point.archive
    path.write_bytes(path.read_bytes() + b"\0")

    check = verify_archives(store, tmp_path / "archive")
    assert not check.ok and "altered" in check.problem


def test_a_missing_archive_is_reported(tmp_path, store):
    point = archive_audit(store, tmp_path / "archive", before_ms=4 * DAY, now_ms=10 * DAY)
    assert point is not None
    (tmp_path / "archive" / point.archive).unlink()

    check = verify_archives(store, tmp_path / "archive")
    assert not check.ok and "missing" in check.problem


def test_a_rewritten_archive_with_its_hash_updated_still_fails_the_chain(tmp_path, store):
    import hashlib

    point = archive_audit(store, tmp_path / "archive", before_ms=4 * DAY, now_ms=10 * DAY)
    assert point is not None
    path = tmp_path / "archive" / point.archive
    with gzip.open(path, "rt") as lines:
        entries = [json.loads(line) for line in lines]
    entries[1]["actor"] = "staff:mallory"
    path.write_bytes(gzip.compress(b"".join(json.dumps(e).encode() + b"\n" for e in entries)))
    with store.transaction() as db:
        db.execute("UPDATE audit_checkpoint SET archive_sha256 = ?",
                   [hashlib.sha256(path.read_bytes()).hexdigest()])

    check = verify_archives(store, tmp_path / "archive")
    assert not check.ok and check.broken_at == 2
