"""Automatic retention (`audit_keep_days`): the gateway archives what is older than kept, on its
store's thread, and the whole history still verifies while the chain goes on."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from gateway.retention import AuditRetention, checkpoints, verify_archives
from gateway.store import Audit, Store
from gateway.store_thread import StoreThread
from tests.gateway.conftest import TABLETS
from tests.support.broker import WingBroker
from tests.support.gateway import Gateway

DAY = 86_400_000


def _seeded(path: Path, ages_days: list[int], now: int) -> None:
    store = Store(path)
    for age in ages_days:
        store.append(Audit(now - age * DAY, "staff:ann", "lock", "wing:A", {"age": age}))
    store.close()


def test_a_daily_pass_archives_what_is_older_than_kept_and_the_history_verifies(tmp_path):
    now = 400 * DAY
    _seeded(tmp_path / "gateway.db", [200, 120, 100, 30, 1], now)
    store, io = Store(tmp_path / "gateway.db"), StoreThread()
    try:
        retention = AuditRetention(store, io, tmp_path / "archive", 90, lambda: now)
        done = asyncio.run(retention.once())

        assert done is not None and done.checkpoint is not None
        assert (done.checkpoint.first, done.checkpoint.last) == (1, 3)
        assert [e.seq for e in store.audit_entries(None)] == [4, 5]
        whole = verify_archives(store, tmp_path / "archive")
        assert whole.ok and whole.entries == 5
    finally:
        io.close()
        store.close()


def test_an_archive_that_cannot_be_written_deletes_nothing(tmp_path):
    now = 400 * DAY
    _seeded(tmp_path / "gateway.db", [200, 1], now)
    (tmp_path / "archive").write_text("a file where the archive directory should be")
    store, io = Store(tmp_path / "gateway.db"), StoreThread()
    try:
        retention = AuditRetention(store, io, tmp_path / "archive", 90, lambda: now)

        assert asyncio.run(retention.once()) is None
        assert [e.seq for e in store.audit_entries(None)] == [1, 2]
        assert checkpoints(store) == []
    finally:
        io.close()
        store.close()


def test_a_gateway_with_a_retention_archives_old_entries_and_its_chain_goes_on(
    tmp_path: Path, broker: WingBroker
) -> None:
    gateway = Gateway(tmp_path / "gw", broker.host, broker.port, tablets=TABLETS,
                      tls=broker.gateway_tls(), audit_keep_days=90)
    _seeded(gateway.state_dir / "gateway.db", [300, 200, 100], time.time_ns() // 1_000_000)
    try:
        gateway.start()
        archive = gateway.state_dir / "audit-archive"
        deadline = time.monotonic() + 30
        while not list(archive.glob("audit-*.jsonl.gz")) and time.monotonic() < deadline:
            time.sleep(0.1)
        locked = gateway.cli("lock", "--device", "T1", "--reason", "search")
        assert locked.returncode == 0, locked.stderr
        gateway.stop()
    finally:
        gateway.close()

    store = Store(gateway.state_dir / "gateway.db")
    try:
        [point] = checkpoints(store)
        assert (point.first, point.last) == (1, 3)
        live = store.audit_entries(None)
        assert live[0].seq == 4 and any(e.action == "lock" for e in live)
        whole = verify_archives(store, archive)
        assert whole.ok and whole.entries == live[-1].seq
    finally:
        store.close()
