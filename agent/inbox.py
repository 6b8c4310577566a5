"""Signed documents from the wing, one at a time in arrival order: judged (`agent.expiry`),
then stored and applied (`agent.documents`), held until trusted time can judge them, or refused
(audited, and answered with a rejected ack the gateway can show).

A full disk fails closed without failing the tablet: a document that locks (or the signed time)
takes effect in memory and is stored when space returns; one that would loosen anything waits,
refused with `disk_full`, and is judged again once the store takes writes (every accepted
document, the time beacon included, tries the store first).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.audit import AuditEvent, AuditTrail
from agent.documents import AppliedDocuments, DocumentKind, HeldDocument, Route
from agent.expiry import ExpiryJudge, Held
from agent.store import AuditRow, DiskFull, StoredDocument, StoreError
from wire.documents import Ack, DesiredState, SignedBody, WingLockdown
from wire.envelope import Accepted, Refused


class Inbox:
    def __init__(
        self,
        *,
        trusted_keys: Mapping[str, Ed25519PublicKey],
        judge: ExpiryJudge,
        audit: AuditTrail,
        ack: Callable[[Ack], Awaitable[None]],
        now_ms: Callable[[], int],
        took_effect: Callable[[Route, SignedBody], Awaitable[None]],
        store_failed: Callable[[str], Awaitable[None]],
    ) -> None:
        """`took_effect` is called once a document is stored and applied; `store_failed` when
        it could not be stored (the agent fails closed)."""
        self.documents: AppliedDocuments | None = None
        """Set once the store is open; None: every document is refused."""
        self._keys = trusted_keys
        self._judge = judge
        self._audit = audit
        self._ack = ack
        self._now_ms = now_ms
        self._took_effect = took_effect
        self._store_failed = store_failed
        self._deferred: dict[DocumentKind, tuple[str, Route, bytes]] = {}
        """Documents that loosen, refused while the disk was full: judged again after."""

    async def on_document(self, topic: str, route: Route, raw: bytes, failure: str = "") -> None:
        documents = self.documents
        ack_prefix = route.kind.value if route.acked else None
        if documents is None:
            await self.refuse(topic, ack_prefix, None, "store_unavailable", failure)
            return
        verdict = self._judge.open(raw, route.doc_type, trusted_keys=self._keys,
                                   audience=route.audience, applied=documents.mark(route.kind),
                                   is_time=route.kind is DocumentKind.TIME)
        if isinstance(verdict, Accepted):
            await self._apply(documents, topic, route, verdict, raw)
        elif isinstance(verdict, Held):
            documents.hold(HeldDocument(topic, route, verdict.version, raw))
            await self._audit.warn(AuditEvent.HELD, topic, "untrusted_clock", verdict.detail)
        elif isinstance(verdict, Refused):
            version = str(verdict.version) if verdict.version is not None else "?"
            await self.refuse(topic, ack_prefix, version, verdict.reason.value, verdict.detail)

    async def _apply(self, documents: AppliedDocuments, topic: str, route: Route,
                     verdict: Accepted[SignedBody], raw: bytes) -> None:
        document = verdict.document
        row = StoredDocument(route.kind.value, document.version, verdict.digest, raw)
        audit = self._audit.applied_row(topic, document.version) if route.acked else None
        try:
            await self._save_unsaved(documents)
            await documents.apply(row, route.kind, document, audit)
        except DiskFull as exc:
            await self._disk_full(documents, topic, route, row, document, audit, raw, str(exc))
            return
        except StoreError as exc:
            await self._store_failed(f"cannot write state: {exc}")
            return
        await self._took_effect(route, document)

    async def _disk_full(self, documents: AppliedDocuments, topic: str, route: Route,
                         row: StoredDocument, document: SignedBody, audit: AuditRow | None,
                         raw: bytes, error: str) -> None:
        if route.kind is DocumentKind.TIME or (
                isinstance(document, DesiredState | WingLockdown) and document.lock.locked):
            documents.keep_unsaved(row, route.kind, document, audit)
            if route.kind is not DocumentKind.TIME:
                await self._audit.warn(AuditEvent.DISK_FULL, topic, "kept_in_memory",
                                       f"version {document.version}: in effect, stored when"
                                       f" there is space ({error})")
            await self._took_effect(route, document)
            return
        self._deferred[route.kind] = (topic, route, raw)
        await self.refuse(topic, route.kind.value if route.acked else None,
                          str(document.version), "disk_full",
                          f"no space to store it, applied once there is ({error})")

    async def _save_unsaved(self, documents: AppliedDocuments) -> None:
        """Store what took effect while the disk was full, write the audit rows kept meanwhile
        and judge again what waited (raises DiskFull while there is still no space)."""
        if not documents.unsaved and not self._deferred and not self._audit.unwritten:
            return
        saved = await documents.save_unsaved()
        await self._audit.write()
        if self._audit.unwritten:
            raise DiskFull("the audit rows kept in memory still find no space")
        deferred, self._deferred = self._deferred, {}
        await self._audit.warn(AuditEvent.DISK_FULL, "", "space_again",
                               f"{saved} documents stored late, {len(deferred)} judged again")
        for topic, route, raw in deferred.values():
            await self.on_document(topic, route, raw)

    async def judge_held(self) -> None:
        """Time is trusted now: judge what only the system clock had called expired."""
        if self.documents is not None:
            for held in self.documents.take_held():
                await self.on_document(held.topic, held.route, held.raw)

    async def refuse(
        self, topic: str, ack_prefix: str | None, version: str | None, reason: str, detail: str
    ) -> None:
        await self._audit.warn(AuditEvent.REFUSED, topic, reason, detail)
        if ack_prefix is not None:
            await self._ack(Ack(ref=f"{ack_prefix}/{version or '?'}", state="rejected",
                                reason=f"{reason}: {detail}"[:500], at=self._now_ms()))
