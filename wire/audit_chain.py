"""An audit trail's hash chain, as a wing keeps it and as the prison receives it: the hash that
ties each entry to the one before, and the check of a run of entries (pure functions).

Each entry's hash covers its fields and its predecessor's hash (`prev`); the first entry's `prev`
is `GENESIS`. The wing gateway appends and checks its own trail (`gateway/store.py`); the prison
checks each wing's trail as it holds it (`prison/store.py`), so both must compute it alike.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from wire.envelope import canonical_json

GENESIS = "0" * 64
"""The `prev` of the first entry."""

ChainRow = tuple[int, int, str, str, str, str, str, str]
"""(seq, at, actor, action, target, detail text, prev, hash), in that order."""


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
    """The text of an entry's detail that its hash covers."""
    return json.dumps(detail, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def load_detail(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {"unreadable": text[:200]}
    return value if isinstance(value, dict) else {"value": value}


def check_chain(rows: Iterable[ChainRow], *, first_seq: int = 1, prev: str = GENESIS
                ) -> ChainCheck:
    """Recompute the chain over `rows` (in seq order) from `first_seq`, whose `prev` must be
    `prev`; say at which entry it first breaks and how."""
    expected_seq, count = first_seq, 0
    for seq, at, actor, action, target, detail, stored_prev, stored_hash in rows:
        if seq != expected_seq:
            return ChainCheck(False, count, seq, f"entry {expected_seq} is missing")
        if stored_prev != prev:
            return ChainCheck(False, count, seq, "does not follow the entry before it")
        if entry_hash(seq, at, actor, action, target, detail, prev) != stored_hash:
            return ChainCheck(False, count, seq, "contents do not match its hash")
        prev, expected_seq, count = stored_hash, seq + 1, count + 1
    return ChainCheck(True, count)
