"""The gateway's audit trail as data: an entry, the hash that chains it to the one before, and
the check of a whole chain's links (pure; the store writes and reads the rows)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from wire.envelope import canonical_json

GENESIS = "0" * 64
"""The `prev` of the first entry."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    seq: int
    at: int
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    prev: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
            "prev": self.prev,
            "hash": self.hash,
        }


@dataclass(frozen=True, slots=True)
class Audit:
    """An audit entry to append, in the same transaction as the change it records."""

    at: int
    actor: str
    action: str
    target: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ChainCheck:
    ok: bool
    entries: int
    broken_at: int | None = None
    problem: str = ""


def entry_hash(
    seq: int, at: int, actor: str, action: str, target: str, detail_text: str, prev: str
) -> str:
    """The hash an audit entry carries: it covers the entry and its predecessor's hash."""
    fields = {
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "target": target,
        "detail": detail_text,
        "prev": prev,
    }
    return hashlib.sha256(canonical_json(fields)).hexdigest()


def detail_text(detail: dict[str, Any]) -> str:
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def load_detail(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"unreadable": text[:200]}
    return value if isinstance(value, dict) else {"value": value}
