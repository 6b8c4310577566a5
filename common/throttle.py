"""How often the same complaint is written to the audit trail (pure).

A misbehaving or hostile tablet can send bad messages as fast as the broker lets it; every one
must be noticed, but the audit trail must not become the flood. The first `burst` of a kind in a
window are audited at once; repeats within the window are counted and reported with the next
entry (or `drain`ed, on the way out). Used by the gateway (bad messages from tablets) and the
agent (refused documents from the wing).
"""

from __future__ import annotations

from collections.abc import Hashable


class AuditThrottle:
    def __init__(self, window_ms: int, max_keys: int = 10_000, burst: int = 1) -> None:
        self.window_ms = window_ms
        self.max_keys = max_keys
        self.burst = burst
        self._windows: dict[Hashable, tuple[int, int]] = {}
        """Per key: when its window started (its first admitted entry), entries admitted in it."""
        self._suppressed: dict[Hashable, int] = {}

    def admit(self, key: Hashable, now_ms: int) -> int | None:
        """None: do not audit now (counted). Else audit now; the value is how many were
        suppressed since the last entry for this key."""
        window = self._windows.get(key)
        if window is None and len(self._windows) >= self.max_keys:
            self._forget_expired(now_ms)
            if len(self._windows) >= self.max_keys:
                # Too many distinct offenders at once: one window for all of them.
                key = "*overflow*"
                window = self._windows.get(key)
        if window is not None and now_ms - window[0] < self.window_ms:
            if window[1] >= self.burst:
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return None
            self._windows[key] = (window[0], window[1] + 1)
        else:
            self._windows[key] = (now_ms, 1)
        return self._suppressed.pop(key, 0)

    def drain(self) -> dict[Hashable, int]:
        """The repeats counted and not yet reported, by key (forgotten here): to report them
        before stopping."""
        drained, self._suppressed = self._suppressed, {}
        return drained

    def _forget_expired(self, now_ms: int) -> None:
        for key in [k for k, (t, _) in self._windows.items() if now_ms - t >= self.window_ms]:
            del self._windows[key]
            self._suppressed.pop(key, None)


class Spacing:
    """At most one run per key per `interval_ms`; a call inside the interval is deferred to its
    end, and further calls before then join that one (pure: the caller schedules).

    A tablet's birth re-sends it what it is missing; a hostile tablet reconnecting in a loop must
    not make the gateway publish at the rate it reconnects, and an honest one that reconnects
    quickly must still get its state, once the interval is over.
    """

    def __init__(self, interval_ms: int, max_keys: int = 100_000) -> None:
        self.interval_ms = interval_ms
        self.max_keys = max_keys
        self._last: dict[Hashable, int] = {}
        self._deferred: set[Hashable] = set()

    def request(self, key: Hashable, now_ms: int) -> int | None:
        """0: run now. A positive delay in ms: run then (the caller schedules it, then calls
        `ran`). None: a deferred run is already scheduled and will cover this call."""
        if key in self._deferred:
            return None
        last = self._last.get(key)
        if last is None or now_ms - last >= self.interval_ms:
            self._remember(key, now_ms)
            return 0
        self._deferred.add(key)
        return last + self.interval_ms - now_ms

    def ran(self, key: Hashable, now_ms: int) -> None:
        """The deferred run for `key` happened now."""
        self._deferred.discard(key)
        self._remember(key, now_ms)

    def _remember(self, key: Hashable, now_ms: int) -> None:
        if key not in self._last and len(self._last) >= self.max_keys:
            for old in [k for k, t in self._last.items()
                        if now_ms - t >= self.interval_ms and k not in self._deferred]:
                del self._last[old]
        self._last[key] = now_ms
