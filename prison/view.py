"""The prison view as rules: per-wing summaries and what has not confirmed a command. Pure
functions of what the store holds, so they are tested alone, and the two readers of the store
that the CLI (`prison status`, `--wait`) and the console share (`prison_status`, `pending`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from prison.store import Link, PrisonStore, TabletRow
from wire.prison import Applied, WingSummary


@dataclass(frozen=True, slots=True)
class WingStatus:
    wing: str
    link: str
    """"up", "down", or "unknown" (never heard from)."""
    since: int
    tablets: int
    online: int
    locked: int
    in_curfew: int
    audit_seq: int
    audit_hash: str
    command_applied: int
    refused: str
    gateway: WingSummary | None = None
    """The wing gateway's own summary (its counts, its rollouts), None until one arrived."""

    def as_json(self) -> dict[str, Any]:
        fields = {k: v for k, v in asdict(self).items() if k != "gateway"}
        return {**fields, "gateway": self.gateway.model_dump(mode="json") if self.gateway
                else None}


def wing_status(wing: str, link: Link | None, tablets: Iterable[TabletRow],
                applied: Applied | None, head: tuple[int, str],
                gateway: WingSummary | None = None) -> WingStatus:
    rows = list(tablets)
    return WingStatus(
        wing=wing,
        link="unknown" if link is None else ("up" if link.up else "down"),
        since=link.since if link else 0,
        tablets=len(rows),
        online=sum(r.online for r in rows),
        locked=sum(r.locked for r in rows),
        in_curfew=sum(r.curfew == "curfew" for r in rows),
        audit_seq=head[0],
        audit_hash=head[1],
        command_applied=applied.command_version if applied else 0,
        refused=applied.refused if applied else "",
        gateway=gateway,
    )


def unconfirmed(version: int, wings: Iterable[str], applied: Mapping[str, Applied | None],
                tablets: Mapping[str, Iterable[TabletRow]]) -> dict[str, list[str]]:
    """Per wing, what has not confirmed command `version`: the wing itself (`"wing: …"`, it
    has not applied it yet, or refused it), or the tablets not yet reporting the wing lockdown
    that carries it. Wings with nothing pending are left out."""
    result: dict[str, list[str]] = {}
    for wing in wings:
        answer = applied.get(wing)
        if answer is None or answer.command_version < version:
            result[wing] = [f"wing: has not applied command {version}"]
            continue
        if answer.command_version == version and answer.refused:
            result[wing] = [f"wing: refused command {version} ({answer.refused})"]
            continue
        reported = {row.device: row.lockdown_version for row in tablets.get(wing, ())}
        pending = [device for device in answer.targets
                   if reported.get(device, 0) < answer.lockdown_version]
        if pending:
            result[wing] = pending
    return result


def prison_status(store: PrisonStore, wings: Iterable[str]) -> list[WingStatus]:
    """Each wing as the store holds it now: what `prison status` and the console show."""
    return [wing_status(w, store.link(w), store.tablets(w), store.applied(w), store.audit_head(w),
                        store.summary(w)) for w in wings]


def pending(store: PrisonStore, wings: list[str], version: int) -> dict[str, list[str]]:
    """What has not confirmed command `version` yet, per wing, as the store holds it now."""
    return unconfirmed(version, wings, {w: store.applied(w) for w in wings},
                       {w: store.tablets(w) for w in wings})
