"""The agent's state store: durable settings, one row per topic, corrupt files refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from agent.store import AuditRow, Store, StoredDocument, StoreError


def document(version: int) -> StoredDocument:
    import hashlib
    import json

    body = json.dumps({"version": version})
    digest = hashlib.sha256(body.encode()).hexdigest()
    return StoredDocument("desired", version, digest, json.dumps({"body": body}).encode())


def test_the_store_uses_wal_and_full_synchronous_writes(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    store.close()


def test_an_applied_document_survives_reopening(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    store.apply(document(1), AuditRow(1, "applied", "tablet/t1/desired", "", "version 1"))
    store.close()
    reopened = Store(tmp_path / "state.db")
    assert reopened.applied()["desired"] == document(1)
    assert [r.event for r in reopened.audit_rows()] == ["applied"]
    reopened.close()


def test_applying_a_newer_document_replaces_the_topics_row(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    store.apply(document(1))
    store.apply(document(2))
    assert list(store.applied().values()) == [document(2)]
    store.close()


def test_a_corrupt_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state.db").write_bytes(b"not a database " * 500)
    with pytest.raises(StoreError):
        Store(tmp_path / "state.db")


def test_a_stored_document_that_does_not_match_its_digest_is_refused() -> None:
    tampered = StoredDocument("desired", 1, "0" * 64, b'{"body": "{}"}')
    with pytest.raises(StoreError, match="digest"):
        tampered.body()


def test_a_closed_store_refuses_writes(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    store.close()
    with pytest.raises(StoreError):
        store.apply(document(1))


def test_a_document_and_its_audit_row_commit_together_or_not_at_all(tmp_path: Path) -> None:
    store = Store(tmp_path / "state.db")
    store.apply(document(1), AuditRow(1, "applied", "tablet/t1/desired", "", "version 1"))
    # A fault between the two writes: the audit insert fails after the document row is written.
    sqlite3.connect(tmp_path / "state.db").executescript(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit"
        " BEGIN SELECT RAISE(ABORT, 'disk trouble'); END;"
    )
    with pytest.raises(StoreError, match="disk trouble"):
        store.apply(document(2), AuditRow(2, "applied", "tablet/t1/desired", "", "version 2"))
    store.close()
    reopened = Store(tmp_path / "state.db")
    assert reopened.applied()["desired"] == document(1)
    assert [r.detail for r in reopened.audit_rows()] == ["version 1"]
    reopened.close()
