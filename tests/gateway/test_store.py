"""The store: a record that survives restarts, and an audit chain that shows tampering."""

from __future__ import annotations

import sqlite3

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.desired import LockRequest, next_desired, next_lockdown
from gateway.store import Store, StoredDocument, Tablet
from wire.envelope import seal

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
NOW = 1_800_000_000_000


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "gateway.db")
    yield s
    s.close()


def filled(store: Store, entries: int = 5) -> None:
    for i in range(entries):
        store.audit(NOW + i, "staff:officer", "lock", f"device:T{i}", {"reason": "search"})


def test_the_database_runs_in_wal_mode_with_full_synchronous_writes(store):
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_desired_state_and_the_exact_envelope_survive_reopening(tmp_path, store):
    doc = next_desired(None, "T1", LockRequest(True, "officer", "search"), NOW, 60_000)
    lockdown = next_lockdown(None, "A", LockRequest(True, "officer", "riot"), NOW, 60_000)
    store.add_tablet(Tablet("T1", "C1", "L1"), NOW)
    store.put_desired([StoredDocument(doc, seal(doc, KEY))])
    store.put_lockdown(StoredDocument(lockdown, seal(lockdown, KEY)))
    store.close()
    reopened = Store(tmp_path / "gateway.db")
    assert reopened.tablets() == [Tablet("T1", "C1", "L1")]
    assert reopened.desired()["T1"] == StoredDocument(doc, seal(doc, KEY))
    assert reopened.lockdown("A") == StoredDocument(lockdown, seal(lockdown, KEY))
    reopened.close()


def test_an_untouched_audit_chain_verifies(store):
    filled(store)
    check = store.verify_audit()
    assert (check.ok, check.entries) == (True, 5)


def test_the_chain_continues_across_reopening(tmp_path, store):
    filled(store, 2)
    store.close()
    reopened = Store(tmp_path / "gateway.db")
    reopened.audit(NOW, "staff:officer", "unlock", "device:T1")
    assert reopened.verify_audit().ok and reopened.verify_audit().entries == 3
    reopened.close()


@pytest.mark.parametrize(
    ("sql", "problem"),
    [
        ("UPDATE audit SET detail = '{\"reason\":\"nothing to see\"}' WHERE seq = 3",
         "contents do not match"),
        ("UPDATE audit SET actor = 'staff:someone_else' WHERE seq = 3", "contents do not match"),
        ("DELETE FROM audit WHERE seq = 3", "missing"),
        ("UPDATE audit SET prev = hash WHERE seq = 3", "does not follow"),
    ],
    ids=["detail-edited", "actor-edited", "row-deleted", "relinked"],
)
def test_a_tampered_audit_chain_says_where_it_breaks(tmp_path, store, sql, problem):
    filled(store)
    with sqlite3.connect(tmp_path / "gateway.db") as raw:
        raw.execute(sql)
    check = store.verify_audit()
    assert not check.ok
    assert check.broken_at in (3, 4)
    assert problem in check.problem


def test_a_rehashed_edit_still_breaks_the_link_to_the_next_entry(tmp_path, store):
    from gateway.store import entry_hash

    filled(store)
    row = store.db.execute("SELECT seq, at, actor, action, target, prev FROM audit WHERE seq = 2"
                           ).fetchone()
    forged_detail = '{"reason":"forged"}'
    forged_hash = entry_hash(row[0], row[1], row[2], row[3], row[4], forged_detail, row[5])
    with sqlite3.connect(tmp_path / "gateway.db") as raw:
        raw.execute("UPDATE audit SET detail = ?, hash = ? WHERE seq = 2",
                    [forged_detail, forged_hash])
    check = store.verify_audit()
    assert (check.ok, check.broken_at) == (False, 3)
