"""The store: a record that survives restarts, and an audit chain that shows tampering."""

from __future__ import annotations

import asyncio
import sqlite3
import threading

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gateway.desired import LockRequest, next_desired, next_lockdown
from gateway.store import Audit, Store, StoredDocument, Tablet
from gateway.store_thread import StoreThread
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


def test_a_change_and_its_audit_entry_commit_together_or_not_at_all(tmp_path, store):
    # A failure injected between the two writes: the audit row is refused after the desired
    # state's row went in, inside the same transaction.
    with sqlite3.connect(tmp_path / "gateway.db") as raw:
        raw.execute("CREATE TRIGGER refuse BEFORE INSERT ON audit "
                    "BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
    doc = next_desired(None, "T1", LockRequest(True, "officer", "search"), NOW, 60_000)
    lock = Audit(NOW, "staff:officer", "lock", "device:T1", {"version": doc.version})
    with pytest.raises(sqlite3.IntegrityError, match="injected failure"):
        store.put_desired([StoredDocument(doc, seal(doc, KEY))], lock)
    assert store.desired() == {}
    assert store.audit_entries() == []

    with sqlite3.connect(tmp_path / "gateway.db") as raw:
        raw.execute("DROP TRIGGER refuse")
    store.put_desired([StoredDocument(doc, seal(doc, KEY))], lock)
    assert store.desired()["T1"].document == doc
    [entry] = store.audit_entries()
    assert (entry.seq, entry.action, entry.detail) == (1, "lock", {"version": doc.version})
    assert store.verify_audit().ok  # the failed attempt left no gap in the chain


def test_a_change_that_fails_leaves_no_audit_entry_and_the_chain_unbroken(tmp_path, store):
    with sqlite3.connect(tmp_path / "gateway.db") as raw:
        raw.execute("CREATE TRIGGER refuse BEFORE INSERT ON lockdown "
                    "BEGIN SELECT RAISE(ABORT, 'injected failure'); END")
    desired = next_desired(None, "T1", LockRequest(True, "officer", "riot"), NOW, 60_000)
    lockdown = next_lockdown(None, "A", LockRequest(True, "officer", "riot"), NOW, 60_000)
    with pytest.raises(sqlite3.IntegrityError, match="injected failure"):
        store.put_documents([StoredDocument(desired, seal(desired, KEY))],
                            StoredDocument(lockdown, seal(lockdown, KEY)),
                            Audit(NOW, "staff:officer", "lock", "wing:A"))
    assert (store.desired(), store.lockdown("A"), store.audit_entries()) == ({}, None, [])
    store.audit(NOW, "staff:officer", "unlock", "wing:A")
    assert [e.seq for e in store.audit_entries()] == [1] and store.verify_audit().ok


async def test_writes_run_on_one_store_thread_in_the_order_asked(store):
    io = StoreThread()
    try:
        loop_thread = threading.get_ident()
        threads = await asyncio.gather(*(
            io(lambda i=i: (store.audit(NOW + i, "gateway", f"a{i}", "wing:A"),
                            threading.get_ident())[1])
            for i in range(20)
        ))
    finally:
        io.close()
    assert len(set(threads)) == 1 and loop_thread not in threads
    assert [e.action for e in store.audit_entries()] == [f"a{i}" for i in range(20)]
