"""How often the same complaint is written to the audit trail (pure).

A misbehaving or hostile tablet can send bad messages as fast as the broker lets it; every one
must be noticed, but the audit trail must not become the flood. The first one of a kind is audited
at once; repeats within the window are counted and reported with the next entry.
"""

from __future__ import annotations

from collections.abc import Hashable


class AuditThrottle:
    def __init__(self, window_ms: int, max_keys: int = 10_000) -> None:
        self.window_ms = window_ms
        self.max_keys = max_keys
        self._last: dict[Hashable, int] = {}
        self._suppressed: dict[Hashable, int] = {}

    def admit(self, key: Hashable, now_ms: int) -> int | None:
        """None: do not audit now (counted). Else audit now; the value is how many were
        suppressed since the last entry for this key."""
        last = self._last.get(key)
        if last is not None and now_ms - last < self.window_ms:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        if last is None and len(self._last) >= self.max_keys:
            self._forget_expired(now_ms)
            if len(self._last) >= self.max_keys:
                # Too many distinct offenders at once: one entry per window for all of them.
                key = "*overflow*"
                last = self._last.get(key)
                if last is not None and now_ms - last < self.window_ms:
                    self._suppressed[key] = self._suppressed.get(key, 0) + 1
                    return None
        self._last[key] = now_ms
        return self._suppressed.pop(key, 0)

    def _forget_expired(self, now_ms: int) -> None:
        for key in [k for k, t in self._last.items() if now_ms - t >= self.window_ms]:
            del self._last[key]
            self._suppressed.pop(key, None)
