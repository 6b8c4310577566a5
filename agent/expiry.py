"""Which clock judges a signed document's expiry on the tablet. Pure: no I/O.

A document is never judged expired by an untrusted clock. With trusted time (`agent.clock`) the
trusted time judges. Before the first gateway time since boot only two things are known: the
latest trusted time ever seen here (`TrustedClock.floor_ms`: the present is certainly not before
it) and the system clock, which anyone with a screwdriver or a settings menu may have moved. So:

- expired by the floor: certainly expired, refused;
- expired only by the system clock: not known, `Held` until trusted time arrives, then judged
  again (the caller keeps it meanwhile; what it already applied holds: locked stays locked);
- otherwise: judged as now by the later of the two (as before trusted time ever was).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from agent.clock import TrustedClock
from wire.documents import SignedBody
from wire.envelope import Accepted, AlreadyApplied, AppliedMark, Refusal, Refused, open_envelope


@dataclass(frozen=True, slots=True)
class Held:
    """Expired only by the untrusted system clock: to be judged again once time is trusted."""

    version: int | None
    detail: str


Judged = Accepted[SignedBody] | AlreadyApplied | Refused | Held


@dataclass(frozen=True, slots=True)
class ExpiryJudge:
    """`open_envelope` with the tablet's clock rules. `system_ms` is the system clock (ms)."""

    clock: TrustedClock
    system_ms: Callable[[], int]

    def open(
        self,
        raw: bytes,
        doc_type: type[SignedBody],
        *,
        trusted_keys: Mapping[str, Ed25519PublicKey],
        audience: str,
        applied: AppliedMark | None = None,
        is_time: bool = False,
    ) -> Judged:
        """Verify `raw` and judge it by the trusted time, or hold it (see the module). A signed
        time (`is_time`) is judged by the latest trusted time known (its versions already refuse
        a replay): a system clock set ahead must not make the tablet refuse the very time that
        would correct it."""

        def judged_at(now_ms: int) -> Accepted[SignedBody] | AlreadyApplied | Refused:
            return open_envelope(raw, doc_type, trusted_keys=trusted_keys, audience=audience,
                                 now_ms=now_ms, applied=applied)

        floor, trusted = self.clock.floor_ms(), self.clock.now_ms()
        if is_time:
            return judged_at(floor)
        if trusted is not None:
            return judged_at(trusted)
        verdict = judged_at(max(floor, self.system_ms()))
        if _expired(verdict) and not _expired(judged_at(floor)):
            assert isinstance(verdict, Refused)
            return Held(verdict.version, f"{verdict.detail} by the system clock, which is not "
                                         "trusted yet")
        return verdict


def _expired(verdict: Accepted[SignedBody] | AlreadyApplied | Refused) -> bool:
    return isinstance(verdict, Refused) and verdict.reason is Refusal.EXPIRED
