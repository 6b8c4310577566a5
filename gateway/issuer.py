"""The issuer: builds and signs every document the wing's tablets accept (desired state, the wing
lockdown, the wing policy, the time, replies, app manifests) and holds the wing key.

Documents the gateway must give back later go one way only: sign → store (with the audit entry
that says why, in one transaction, on the store's thread) → cache. The cache is what the
publisher sends; it never holds a document the store does not. Issues are taken one at a time,
so two staff actions never compute the same next version.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from common.config import ConfigError
from common.files import write_atomic
from gateway.config import GatewayConfig
from gateway.desired import first_desired, reissued
from gateway.store import Audit, Store, StoredDocument
from gateway.store_thread import StoreThread
from wire.documents import (
    DesiredState,
    SignedBody,
    SignedTime,
    WingLockdown,
    device_audience,
    wing_audience,
)
from wire.envelope import private_key_from_pem, seal
from wire.policy import WingPolicy, policy_hash
from wire.requests import Asked, RequestReply

log = logging.getLogger(__name__)

POLICY_FILE = "wing-policy.envelope"


@dataclass(frozen=True, slots=True)
class Issue:
    """What one decision issues: new documents and the audit entry that records it."""

    desired: list[DesiredState] = field(default_factory=list)
    lockdown: WingLockdown | None = None
    audit: Audit | None = None


@dataclass(frozen=True, slots=True)
class SignedPolicy:
    document: WingPolicy
    envelope: bytes
    hash: str


def device_of(document: DesiredState | WingLockdown) -> str:
    """The tablet (or wing) a document's audience names."""
    return document.audience.split(":", 1)[1]


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """The wing key (PKCS8 PEM); ConfigError with one line if it cannot be used."""
    try:
        return private_key_from_pem(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"cannot read signing key {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise ConfigError(f"signing key {path}: {exc}") from exc


class Issuer:
    def __init__(self, config: GatewayConfig, key: Ed25519PrivateKey, store: Store,
                 io: StoreThread) -> None:
        self._key = key
        self.wing = config.wing
        self.ttl_ms = config.desired_ttl_s * 1000
        self._store = store
        self._io = io
        self._turn = asyncio.Lock()
        self.desired: dict[str, StoredDocument[DesiredState]] = store.desired()
        self.lockdown: StoredDocument[WingLockdown] | None = store.lockdown(config.wing)
        self.policy_path: Path = config.state_dir / POLICY_FILE
        self.policy: SignedPolicy | None = None
        self._time_version = 0
        self._reply_version = 0

    def seal(self, document: SignedBody) -> bytes:
        """The signed envelope of a document no one stores (a manifest staff take away)."""
        return seal(document, self._key)

    # -- desired state and the wing lockdown ---------------------------------------------

    async def issue(self, plan: Callable[[], Issue]) -> Issue:
        """Take the issuer's turn, let `plan` decide from the current documents, then sign,
        store and cache what it decided. Returns the plan's issue."""
        async with self._turn:
            issue = plan()
            desired, lockdown = self._signed(issue)
            if desired or lockdown is not None or issue.audit is not None:
                await self._io(self._store.put_documents, desired, lockdown, issue.audit)
            self._cache(desired, lockdown)
            return issue

    def issue_now(self, issue: Issue) -> None:
        """`issue` at start-up, before the event loop serves anything."""
        desired, lockdown = self._signed(issue)
        self._store.put_documents(desired, lockdown, issue.audit)
        self._cache(desired, lockdown)

    def _signed(self, issue: Issue) -> tuple[list[StoredDocument[DesiredState]],
                                             StoredDocument[WingLockdown] | None]:
        desired = [StoredDocument(d, seal(d, self._key)) for d in issue.desired]
        lockdown = issue.lockdown
        return desired, StoredDocument(lockdown, seal(lockdown, self._key)) if lockdown else None

    def _cache(self, desired: list[StoredDocument[DesiredState]],
               lockdown: StoredDocument[WingLockdown] | None) -> None:
        for stored in desired:
            self.desired[device_of(stored.document)] = stored
        if lockdown is not None:
            self.lockdown = lockdown

    def revision(self, device: str, now: int, reported: int) -> DesiredState:
        """The tablet's next desired state with its content carried over, for a caller to revise
        (profile, update target): above both our last version and `reported`, the version the
        tablet says it applied."""
        current = self.desired.get(device)
        if current is None:
            return first_desired(device, now, self.ttl_ms, reported=reported)
        return reissued(current.document, now, self.ttl_ms, reported=reported)

    # -- the wing policy -------------------------------------------------------------------

    def load_policy(self) -> str | None:
        """Read the kept policy (signed as published); the reason if it is unreadable."""
        try:
            raw = self.policy_path.read_bytes()
        except FileNotFoundError:
            return None
        try:
            document = WingPolicy.model_validate_json(json.loads(raw)["body"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            return str(exc)
        self.policy = SignedPolicy(document, raw, policy_hash(document))
        return None

    async def issue_policy(
        self, plan: Callable[[SignedPolicy | None], tuple[WingPolicy, Audit] | None]
    ) -> SignedPolicy | None:
        """Take the issuer's turn, let `plan` decide the next policy from the current one (None:
        nothing to issue), then sign, keep (one envelope file, written atomically) and cache it,
        with its audit entry."""
        async with self._turn:
            decided = plan(self.policy)
            if decided is None:
                return None
            document, audit = decided
            signed = SignedPolicy(document, seal(document, self._key), policy_hash(document))
            await self._io(self._keep_policy, signed.envelope, audit)
            self.policy = signed
            return signed

    def _keep_policy(self, envelope: bytes, audit: Audit) -> None:
        write_atomic(self.policy_path, envelope)
        self._store.append(audit)

    # -- documents sent and not kept -----------------------------------------------------

    def time(self, now: int, valid_ms: int) -> bytes:
        """The signed wing time; its versions only grow, however the clock moves."""
        self._time_version = max(now, self._time_version + 1)
        return seal(SignedTime(audience=wing_audience(self.wing), version=self._time_version,
                               issued=now, expires=now + valid_ms), self._key)

    def reply(self, device: str, request: str, text: str | None, by: str | None, now: int,
              asked: Asked | None = None) -> bytes:
        """A staff reply to a tablet's request (or a copy of a person's request, `asked`, with
        its reply if any), signed when sent (so it is always in date)."""
        self._reply_version = max(now, self._reply_version + 1)
        return seal(RequestReply(
            audience=device_audience(device), version=self._reply_version, issued=now,
            expires=now + self.ttl_ms, request=request, text=text, by=by, asked=asked,
        ), self._key)

