"""The gateway's link to its wing broker, as staff see it: up since when, or down since when, and
how often another client took the gateway's identity (MQTT 5 reason 0x8E, "session taken over").

Mosquitto 2.0.11 (Debian bookworm) closes a taken-over connection without that DISCONNECT (it
was added in 2.0.15), so the link also infers it: the broker closed our connection although it
stayed up (its `$SYS/broker/uptime` tells the same start time before and after the drop). A
broker that restarted has a new start time; one that was killed cannot be reconnected to at once.

Presence is only known while the link is up: the broker tells the gateway when a tablet goes
offline (its last will), so while the gateway has no session, a tablet's `online` is unknown and
only its last-seen time is shown (`views.tablet_views`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BROKER_UPTIME = "$SYS/broker/uptime"
"""Retained, refreshed every `sys_interval` (provisioning/mosquitto_conf.py: 2 s)."""
SAME_BROKER_MS = 5_000
"""Two start-time estimates this close are one broker run (each is late by at most the
`sys_interval` and the whole second the uptime is rounded to)."""
TAKEOVER_ALARM_MS = 24 * 3_600_000
"""A takeover keeps `staff status` alarmed this long (it is in the audit trail for good)."""


@dataclass(slots=True)
class BrokerLink:
    connected_since: int | None = None
    disconnected_since: int | None = None
    """None before the first connect attempt ended: the gateway is still starting."""
    takeovers: int = 0
    """Takeovers since the gateway started."""
    last_takeover: int | None = None
    broker_started: int | None = None
    """When the broker started, as its uptime says (None: not heard this run)."""
    dropped_at: int | None = None
    """When the broker last closed our session without naming a reason."""

    @property
    def up(self) -> bool:
        return self.connected_since is not None

    def connected(self, now: int) -> None:
        self.connected_since = now
        self.disconnected_since = None

    def disconnected(self, now: int) -> None:
        if self.connected_since is not None or self.disconnected_since is None:
            self.disconnected_since = now
        self.connected_since = None

    def dropped(self, now: int) -> None:
        """The session ended without reason 0x8E: lost, or closed by the broker."""
        self.dropped_at = now
        self.disconnected(now)

    def uptime(self, payload: bytes, now: int) -> bool:
        """The broker's `$SYS/broker/uptime` arrived. True when it shows that the last drop
        happened while this same broker stayed up: our session was taken over."""
        try:
            seconds = int(payload.split()[0])
        except (ValueError, IndexError):
            return False
        started = now - seconds * 1000
        previous, self.broker_started = self.broker_started, started
        dropped, self.dropped_at = self.dropped_at, None
        # One broker run before and after the drop, and it had started well before the drop (a
        # broker restarted just after it has a start time after the drop: not a takeover).
        return (dropped is not None and previous is not None
                and abs(started - previous) <= SAME_BROKER_MS
                and started < dropped - SAME_BROKER_MS)

    def taken_over(self, now: int) -> None:
        self.takeovers += 1
        self.last_takeover = now
        self.disconnected(now)

    def alarms(self, now: int) -> list[str]:
        """What staff must look at now, one line each."""
        found = []
        if self.last_takeover is not None and now - self.last_takeover < TAKEOVER_ALARM_MS:
            found.append(f"session_taken_over: another client connected with the gateway's "
                         f"identity ({self.takeovers} since start)")
        return found

    def view(self, now: int) -> dict[str, Any]:
        """The `broker` object of `GET /v1/health` and `staff status --json`."""
        return {
            "connected": self.up,
            "connected_since": self.connected_since,
            "disconnected_since": self.disconnected_since,
            "takeovers": self.takeovers,
            "last_takeover": self.last_takeover,
            "alarms": self.alarms(now),
        }
