from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from prison.store import PrisonStore, open_store
from tests.prison.rig import PrisonRig
from tests.support.postgres import PostgresServer

TABLETS_PER_WING = 50 if os.environ.get("CELLBRIDGE_SLOW") == "1" else 3
"""The issue's 3 x 50 under `make test-all`; a few per wing in `make test` (bounded time)."""

BACKENDS = ("sqlite", "postgresql")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session (a throwaway cluster); each test that uses it
    takes a database of its own (`postgres_dsn`)."""
    server = PostgresServer.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_dsn(postgres: PostgresServer) -> str:
    return postgres.new_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture(params=BACKENDS)
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Path, str | None]:
    """Where a prison store lives, once per backend: (SQLite path, PostgreSQL DSN or None)."""
    dsn = request.getfixturevalue("postgres_dsn") if request.param == "postgresql" else None
    return tmp_path / "prison.db", dsn


@pytest.fixture
def store(store_location: tuple[Path, str | None]) -> Iterator[PrisonStore]:
    opened = open_store(*store_location)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[PrisonRig]:
    rig = PrisonRig(tmp_path, dict.fromkeys(("A", "B", "C"), TABLETS_PER_WING))
    rig.start_brokers()
    try:
        yield rig
    finally:
        rig.stop_brokers()
