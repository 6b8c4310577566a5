"""The prison service outlives its store going away: a PostgreSQL server stopped under it, a
SQLite file that cannot grow. It keeps running, refuses nothing it cannot record, loses nothing
the wings sent meanwhile, and carries on by itself once the store is back."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest

from cellbridge.fleet import wait_until
from gateway.desired import LockRequest
from gateway.fleet import Selector
from prison.service import PrisonService
from tests.prison.rig import PrisonRig
from tests.support.postgres import PostgresServer


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A server of this test's own: the test stops it and starts it again."""
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


async def lock_and_unlock(rig: PrisonRig, wing: str, device: str) -> None:
    gateway = rig.gateways[wing]
    for locked in (True, False):
        outcome = await gateway.lock(Selector(devices=(device,)),
                                     LockRequest(locked, "officer", "search"), wait_s=10)
        assert outcome.pending == []


async def prison_holds_the_trail_of(rig: PrisonRig, service: PrisonService, wing: str) -> None:
    """Every entry of the wing's audit trail, as the wing holds it now, reaches the prison."""
    entries = [(e.seq, e.hash) for e in await rig.gateways[wing].audit_entries(None)]
    await wait_until(lambda: [(e.seq, e.hash) for e in service.store.audit_entries(wing)]
                     [:len(entries)] == entries, 30)


async def test_the_prison_service_outlives_its_postgresql_server(
        rig: PrisonRig, own_postgres: PostgresServer):
    rig.postgresql = own_postgres.new_database("prison")
    async with rig.running() as agents:
        for wing in rig.wings:
            await rig.wait_link(wing, up=True)
        service, task = rig.service, rig.service_task
        assert service is not None and task is not None

        await asyncio.to_thread(own_postgres.halt)
        await wait_until(lambda: not service.store_available.is_set(), 10)

        code, out = await rig.cli("lock", "--reason", "incident", "--wait", "5")
        assert code == 1, out
        assert "command not recorded, nothing will be sent" in out
        # Wing A carries on meanwhile: what it sends up has nowhere to be written yet.
        await lock_and_unlock(rig, "A", "A-01")
        await asyncio.sleep(1)
        assert not task.done()
        assert not any(a.state.locked for wing in agents.values() for a in wing)

        await asyncio.to_thread(own_postgres.resume)
        await wait_until(lambda: service.store_available.is_set() and service.connected.is_set(),
                         60)
        code, out = await rig.cli("lock", "--reason", "incident", "--wait", "30", "--json")
        assert code == 0, out
        assert json.loads(out)["command"] == 1  # the refused one was never recorded
        assert all(a.state.locked for wing in agents.values() for a in wing)
        await prison_holds_the_trail_of(rig, service, "A")
        code, out = await rig.cli("audit", "--verify")
        assert code == 0, out


async def test_the_prison_service_outlives_a_sqlite_store_that_cannot_grow(rig: PrisonRig):
    async with rig.running() as agents:
        for wing in rig.wings:
            await rig.wait_link(wing, up=True)
        service, task = rig.service, rig.service_task
        assert service is not None and task is not None and service.store.backend.name == "sqlite"
        pages = service.store.execute("PRAGMA page_count").fetchone()[0]
        # SQLite's own limit on the file's size: a write that needs a page more fails as on a
        # full disk (SQLITE_FULL).
        service.store.execute(f"PRAGMA max_page_count = {pages}")
        # What the wing sends up reaches the store a moment after each round, and the file's
        # free pages are used first: go on until a write has failed (bounded), then wait for it.
        for _ in range(100):
            if not service.store_available.is_set():
                break
            await lock_and_unlock(rig, "A", "A-02")
        await wait_until(lambda: not service.store_available.is_set(), 30)
        await lock_and_unlock(rig, "A", "A-01")
        await asyncio.sleep(1)
        assert not task.done()

        service.store.execute("PRAGMA max_page_count = 1073741823")
        await wait_until(lambda: service.store_available.is_set() and service.connected.is_set(),
                         60)
        code, out = await rig.cli("lock", "--reason", "incident", "--wait", "30", "--json")
        assert code == 0, out
        assert all(a.state.locked for wing in agents.values() for a in wing)
        await prison_holds_the_trail_of(rig, service, "A")
