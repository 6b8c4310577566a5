"""The gateway's audit trail as data: an entry and an entry to append. The hash chain itself (the
hash, the check of a run of entries) is `wire.audit_chain`, shared with the prison, which checks
each wing's trail as it receives it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wire.audit_chain import (
    GENESIS,
    ChainCheck,
    check_chain,
    detail_text,
    entry_hash,
    load_detail,
)

__all__ = ["GENESIS", "Audit", "AuditEntry", "ChainCheck", "check_chain", "detail_text",
           "entry_hash", "load_detail"]

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
