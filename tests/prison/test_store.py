"""The prison store, once against SQLite and once against a real PostgreSQL server: the same
public face, the same answers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from prison.store import MIGRATIONS, Command, PrisonStore, StoreError, open_store
from wire.audit_chain import GENESIS, ChainCheck, detail_text, entry_hash
from wire.documents import LockView, ReportedState, Status
from wire.prison import Applied, AuditUp, RolloutProgress, WingSummary


def report(device: str, at: int, *, locked: bool, version: int = 1) -> ReportedState:
    return ReportedState(device=device, desired_version=1, lockdown_version=version,
                         lock=LockView(locked=locked), profile="default", at=at, boot_id="b",
                         agent_version="1", curfew="open")


def entry(seq: int) -> AuditUp:
    return AuditUp(seq=seq, at=seq * 10, actor="officer", action="lock", target=f"A-{seq}",
                   detail={"reason": "søk", "n": seq}, prev="0" * 64, hash=f"{seq:064x}")


def command(version: int, *, locked: bool = True) -> Command:
    return Command(version, locked, "control", "riot", 1000, 2000, b"\x00signed\xff" * 3)


def test_a_newer_report_is_kept_when_an_older_one_arrives_after_it(store: PrisonStore):
    store.put_reported("A", report("A-01", 200, locked=True, version=4))
    store.put_reported("A", report("A-01", 100, locked=False, version=3))
    [row] = store.tablets("A")
    assert (row.locked, row.lockdown_version, row.reported_at) == (True, 4, 200)


def test_an_older_status_does_not_undo_a_newer_one(store: PrisonStore):
    store.put_status("A", "A-01", Status(state="online", boot_id="b", at=200))
    store.put_status("A", "A-01", Status(state="offline", boot_id="b", at=100))
    store.put_status("B", "B-01", Status(state="offline", boot_id="b", at=100))
    assert [(r.wing, r.device, r.online) for r in store.tablets()] == [
        ("A", "A-01", True), ("B", "B-01", False)]


def test_a_resent_audit_entry_is_kept_once(store: PrisonStore):
    assert store.put_audit("A", entry(1)) is True
    assert store.put_audit("A", entry(1)) is False
    assert store.audit_count("A") == 1
    assert list(store.audit_entries("A")) == [entry(1)]


def test_the_audit_head_is_the_last_entry_before_the_first_gap(store: PrisonStore):
    assert store.audit_head("A") == (0, "")
    for seq in (2, 3, 5):
        store.put_audit("A", entry(seq))
    assert store.audit_head("A") == (0, "")  # entry 1 missing: nothing held without a gap
    store.put_audit("A", entry(1))
    assert store.audit_head("A") == (3, entry(3).hash)
    assert store.audit_head("B") == (0, "")


def test_a_link_change_is_recorded_with_its_moment_and_a_repeat_is_not(store: PrisonStore):
    assert store.link("A") is None
    assert store.set_link("A", True, 100) is True
    assert store.set_link("A", True, 200) is False
    assert store.set_link("A", False, 300) is True
    link = store.link("A")
    assert link is not None and (link.up, link.since) == (False, 300)


def test_a_wings_answer_replaces_its_previous_one(store: PrisonStore):
    store.put_applied("A", Applied(command_version=1, lockdown_version=3, targets=("A-01",),
                                   at=10))
    store.put_applied("A", Applied(command_version=2, refused="expired", at=20))
    assert store.applied("A") == Applied(command_version=2, refused="expired", at=20)
    assert store.applied("B") is None


def test_commands_take_consecutive_versions_and_keep_their_envelope(store: PrisonStore):
    assert store.latest_command() is None
    assert store.add_command(command).version == 1
    assert store.add_command(lambda v: command(v, locked=False)).version == 2
    assert store.latest_command() == command(2, locked=False)


def test_a_command_that_fails_to_build_leaves_nothing_recorded(store: PrisonStore):
    def broken(version: int) -> Command:
        raise ValueError("signing failed")

    with pytest.raises(ValueError):
        store.add_command(broken)
    assert store.latest_command() is None
    assert store.add_command(command).version == 1


def test_concurrent_writers_never_take_the_same_command_version(
        store_location: tuple[Path, str | None]):
    stores = [open_store(*store_location) for _ in range(3)]
    failures: list[BaseException] = []

    def issue(store: PrisonStore) -> None:
        try:
            for _ in range(15):
                store.add_command(command)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=issue, args=(s,)) for s in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    versions = [r[0] for r in stores[0].execute("SELECT version FROM commands").fetchall()]
    for s in stores:
        s.close()
    assert failures == []
    assert sorted(versions) == list(range(1, 46))


def test_reopening_keeps_the_view_and_applies_no_migration_twice(
        store_location: tuple[Path, str | None]):
    first = open_store(*store_location)
    first.put_audit("A", entry(1))
    first.close()
    again = open_store(*store_location)
    try:
        assert again.schema_version() == len(MIGRATIONS)
        assert again.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0] == len(
            MIGRATIONS)
        assert again.audit_count("A") == 1
    finally:
        again.close()


def test_a_store_with_a_newer_schema_is_refused(store_location: tuple[Path, str | None]):
    first = open_store(*store_location)
    first.execute("INSERT INTO schema_version (version) VALUES (?)", [len(MIGRATIONS) + 1])
    first.close()
    with pytest.raises(StoreError, match="newer than this program"):
        open_store(*store_location)


def test_an_unreachable_postgresql_is_a_clear_error(tmp_path: Path):
    with pytest.raises(StoreError, match="cannot connect to PostgreSQL"):
        open_store(tmp_path / "unused.db", f"host={tmp_path} port=1 dbname=x connect_timeout=2")
    assert not (tmp_path / "unused.db").exists()  # no silent fallback to SQLite


def chain(count: int, wing_detail: str = "A") -> list[AuditUp]:
    """A real hash chain of `count` entries, as a wing gateway makes it."""
    entries, prev = [], GENESIS
    for seq in range(1, count + 1):
        detail = {"reason": f"søk {wing_detail}", "tablets": [seq, seq + 1], "nested": {"b": 1}}
        digest = entry_hash(seq, seq * 10, "officer", "lock", f"T-{seq}", detail_text(detail),
                            prev)
        entries.append(AuditUp(seq=seq, at=seq * 10, actor="officer", action="lock",
                               target=f"T-{seq}", detail=detail, prev=prev, hash=digest))
        prev = digest
    return entries


def test_a_wings_chain_as_received_verifies(store: PrisonStore):
    for item in reversed(chain(5)):  # arrival order does not matter
        store.put_audit("A", item)
    assert store.verify_audit("A") == ChainCheck(True, 5)
    assert store.verify_audit("B") == ChainCheck(True, 0)


@pytest.mark.parametrize(("sql", "broken_at", "problem"), [
    ("UPDATE audit SET detail = '{\"reason\":\"nothing\"}' WHERE seq = 3", 3,
     "contents do not match its hash"),
    ("DELETE FROM audit WHERE seq = 2", 3, "entry 2 is missing"),
    ("UPDATE audit SET prev = hash WHERE seq = 4", 4, "does not follow the entry before it"),
])
def test_an_altered_chain_at_the_prison_says_where_it_breaks(
        store: PrisonStore, sql: str, broken_at: int, problem: str):
    for item in chain(5):
        store.put_audit("A", item)
    store.execute(sql)
    check = store.verify_audit("A")
    assert (check.ok, check.broken_at, check.problem) == (False, broken_at, problem)


def summary(at: int, online: int) -> WingSummary:
    return WingSummary(at=at, tablets=4, online=online, locked=1, in_curfew=0,
                       rollouts=(RolloutProgress(id="r1", version="2.0", stage="canary",
                                                 tablets=4, succeeded=1, not_reached=3),))


def test_a_wings_newest_summary_is_kept_when_an_older_one_arrives_after_it(store: PrisonStore):
    assert store.summary("A") is None
    store.put_summary("A", summary(200, online=4))
    store.put_summary("A", summary(100, online=0))
    assert store.summary("A") == summary(200, online=4)


def test_a_store_of_the_first_schema_is_migrated_keeping_what_it_holds(
        store_location: tuple[Path, str | None]):
    old = open_store(*store_location)
    old.put_audit("A", entry(1))
    old.execute("DROP TABLE summaries")  # as the first schema made it
    old.execute("DROP TABLE lift_requests")
    old.execute("DROP TABLE staff_accounts")
    old.execute("DROP TABLE console_events")
    old.execute("DELETE FROM schema_version WHERE version > 1")
    old.close()
    store = open_store(*store_location)
    try:
        assert store.schema_version() == len(MIGRATIONS)
        store.put_summary("A", summary(1, online=1))
        assert store.summary("A") == summary(1, online=1)
        assert store.audit_count("A") == 1
    finally:
        store.close()
