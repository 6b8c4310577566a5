"""The signed documents a tablet has applied, one per kind, kept in the store (`agent.store`).

The lock, the policy and the trusted time's floor are all derived from these; `AppliedDocuments`
holds them in memory, writes each to the store before it takes effect (off the event loop: an
fsync never stalls other agents), and keeps documents `Held` by `agent.expiry` until trusted
time can judge them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from agent.store import AuditRow, Store, StoredDocument, StoreError
from wire import topics
from wire.documents import (
    DesiredState,
    SignedBody,
    SignedTime,
    WingLockdown,
    device_audience,
    wing_audience,
)
from wire.envelope import AppliedMark
from wire.policy import WingPolicy

D = TypeVar("D", bound=SignedBody)

TIME_STORE_INTERVAL_MS = 300_000
"""How much newer a signed time must be than the stored one to be written to the store."""

class DocumentKind(StrEnum):
    """What a signed document is to the tablet; the value is its row in the store and the
    prefix of the `Ack.ref` a refusal is answered with."""

    DESIRED = "desired"
    LOCKDOWN = "lockdown"
    TIME = "time"
    POLICY = "policy"


@dataclass(frozen=True, slots=True)
class Route:
    """How one signed topic is checked and applied."""

    kind: DocumentKind
    doc_type: type[SignedBody]
    audience: str
    acked: bool
    """Refusals are acknowledged, and applying it is reported (all but the signed time)."""


def routes(device: str, wing: str) -> dict[str, Route]:
    """The signed topics a tablet takes, by topic."""
    wing_name = wing_audience(wing)
    return {
        topics.tablet(device, topics.TabletChannel.DESIRED): Route(
            DocumentKind.DESIRED, DesiredState, device_audience(device), True),
        topics.WING_LOCKDOWN: Route(DocumentKind.LOCKDOWN, WingLockdown, wing_name, True),
        topics.WING_TIME: Route(DocumentKind.TIME, SignedTime, wing_name, False),
        topics.WING_POLICY: Route(DocumentKind.POLICY, WingPolicy, wing_name, True),
    }


@dataclass(frozen=True, slots=True)
class HeldDocument:
    topic: str
    route: Route
    version: int | None
    raw: bytes


class AppliedDocuments:
    """One tablet's applied documents. Use `open` (reads the store in a worker)."""

    def __init__(self, store: Store, rows: dict[DocumentKind, StoredDocument],
                 documents: dict[DocumentKind, SignedBody]) -> None:
        self.store = store
        self._rows = rows
        self._documents = documents
        self._stored_versions = {kind: row.version for kind, row in rows.items()}
        self._held: dict[DocumentKind, HeldDocument] = {}
        self._unsaved: dict[DocumentKind, tuple[StoredDocument, AuditRow | None]] = {}

    @classmethod
    async def open(cls, path: Path, known: list[Route]) -> AppliedDocuments:
        """Open the store and rebuild what was applied; raises StoreError (fail closed)."""
        store = await asyncio.to_thread(Store, path)
        try:
            applied = store.applied()
            rows, documents = {}, {}
            for route in known:
                if route.kind.value in applied:
                    row = applied[route.kind.value]
                    rows[route.kind] = row
                    documents[route.kind] = route.doc_type.model_validate_json(row.body())
        except (StoreError, ValidationError, ValueError) as exc:
            store.close()
            raise StoreError(str(exc)) from exc
        return cls(store, rows, documents)

    def get(self, kind: DocumentKind, doc_type: type[D]) -> D | None:
        document = self._documents.get(kind)
        return document if isinstance(document, doc_type) else None

    def mark(self, kind: DocumentKind) -> AppliedMark | None:
        row = self._rows.get(kind)
        return row.mark if row is not None else None

    async def apply(self, row: StoredDocument, kind: DocumentKind, document: SignedBody,
                    audit: AuditRow | None) -> None:
        """Store `document` (raises StoreError; DiskFull: nothing changed), then take it as
        applied."""
        if self._worth_storing(kind, document.version):
            await asyncio.to_thread(self.store.apply, row, audit)
            self._stored_versions[kind] = document.version
            self._unsaved.pop(kind, None)  # superseded by what was just stored
        self._take(row, kind, document)

    def keep_unsaved(self, row: StoredDocument, kind: DocumentKind, document: SignedBody,
                     audit: AuditRow | None) -> None:
        """Take `document` as applied before it is stored, because the disk is full: only for a
        document that tightens (a lock), never one that loosens. `save_unsaved` stores it."""
        self._unsaved[kind] = (row, audit)
        self._take(row, kind, document)

    @property
    def unsaved(self) -> int:
        """Documents in effect but not yet stored (the disk was full)."""
        return len(self._unsaved)

    async def save_unsaved(self) -> int:
        """Store what is in effect but not stored yet; raises DiskFull while there is still no
        space. Returns how many were stored."""
        saved = 0
        for kind, (row, audit) in list(self._unsaved.items()):
            await asyncio.to_thread(self.store.apply, row, audit)
            self._stored_versions[kind] = row.version
            if self._unsaved.get(kind) == (row, audit):
                del self._unsaved[kind]
            saved += 1
        return saved

    def _take(self, row: StoredDocument, kind: DocumentKind, document: SignedBody) -> None:
        self._rows[kind] = row
        self._documents[kind] = document
        held = self._held.get(kind)
        if held is not None and (held.version or 0) <= document.version:
            del self._held[kind]

    def _worth_storing(self, kind: DocumentKind, version: int) -> bool:
        """Every document is stored before it takes effect, except the signed time: the store
        keeps it as a floor (any earlier trusted time will do), so it is written at most every
        `TIME_STORE_INTERVAL_MS` — not a synced flash write every beacon on every tablet. In
        memory every beacon counts (the clock, and the replay mark)."""
        if kind is not DocumentKind.TIME:
            return True
        return version - self._stored_versions.get(kind, 0) >= TIME_STORE_INTERVAL_MS

    def hold(self, held: HeldDocument) -> None:
        """Keep the newest document of its kind that only trusted time can judge."""
        kept = self._held.get(held.route.kind)
        if kept is None or (kept.version or 0) <= (held.version or 0):
            self._held[held.route.kind] = held

    def take_held(self) -> list[HeldDocument]:
        """The held documents (to be judged again now that time is trusted), forgotten here."""
        held, self._held = list(self._held.values()), {}
        return held

    async def close(self) -> None:
        await asyncio.to_thread(self.store.close)
