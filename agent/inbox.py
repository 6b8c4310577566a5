"""Signed documents from the wing, one at a time in arrival order: judged (`agent.expiry`),
then stored and applied (`agent.documents`), held until trusted time can judge them, or refused
(audited, and answered with a rejected ack the gateway can show).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.audit import AuditEvent, AuditTrail
from agent.documents import AppliedDocuments, DocumentKind, HeldDocument, Route
from agent.expiry import ExpiryJudge, Held
from agent.store import StoredDocument, StoreError
from wire.documents import Ack, SignedBody
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
            await documents.apply(row, route.kind, document, audit)
        except StoreError as exc:
            await self._store_failed(f"cannot write state: {exc}")
            return
        await self._took_effect(route, document)

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
