"""systemd's service notification protocol (sd_notify(3)) for `cellbridge agent run`.

The tablet's unit is `Type=notify` with `WatchdogSec=`: the agent says READY=1 once its state is
loaded and its socket listens, pings WATCHDOG=1 from its event loop (so a stalled loop gets the
agent restarted, and a tablet without its agent shows only the lock screen), and says STOPPING=1
and STATUS= lines. Outside systemd (no $NOTIFY_SOCKET) every call is a no-op.

The protocol is one datagram of newline-separated `KEY=VALUE` fields to the Unix socket named by
$NOTIFY_SOCKET (a leading '@' names an abstract socket). Only the process the watchdog is meant
for ($WATCHDOG_PID, when set) pings it, at half of $WATCHDOG_USEC as sd_watchdog_enabled(3) advises.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Mapping

log = logging.getLogger(__name__)

ENVIRONMENT = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
"""What systemd sets for a notify service with a watchdog."""


def notify_address(value: str | None) -> str | bytes | None:
    """The address to send to, from $NOTIFY_SOCKET: a path, an abstract name (bytes starting with
    NUL), or None when there is none or it is not a Unix socket we can speak to."""
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    return None  # e.g. "vsock:…", which a tablet's agent never runs under


def watchdog_interval(usec: str | None, watchdog_pid: str | None, pid: int) -> float | None:
    """Seconds between WATCHDOG=1 pings (half the timeout), or None when the watchdog is off, or
    meant for another process, or the variables are not numbers."""
    if not usec:
        return None
    try:
        timeout_us = int(usec)
        if watchdog_pid and int(watchdog_pid) != pid:
            return None
    except ValueError:
        return None
    if timeout_us <= 0:
        return None
    return timeout_us / 2_000_000


def message(**fields: str) -> bytes:
    """One notification datagram: `READY=1\\nSTATUS=…`. Newlines inside a value would start a new
    field, so they become spaces."""
    return "\n".join(
        f"{key}={' '.join(value.splitlines())}" for key, value in fields.items()
    ).encode()


class Notifier:
    """Talks to the service manager that started this process; silent when there is none."""

    def __init__(self, address: str | bytes | None, watchdog_s: float | None = None) -> None:
        self.address = address
        self.watchdog_s = watchdog_s if address is not None else None
        self._sock: socket.socket | None = None
        if address is not None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            # A manager that does not read must never stall the agent's event loop.
            self._sock.setblocking(False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Notifier:
        env = os.environ if environ is None else environ
        return cls(
            notify_address(env.get("NOTIFY_SOCKET")),
            watchdog_interval(env.get("WATCHDOG_USEC"), env.get("WATCHDOG_PID"), os.getpid()),
        )

    @classmethod
    def take_from_environment(cls) -> Notifier:
        """`from_environment`, then remove the variables from this process's environment, so
        that programs it runs (rauc, …) do not take themselves for the service."""
        notifier = cls.from_environment()
        for name in ENVIRONMENT:
            os.environ.pop(name, None)
        return notifier

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def notify(self, **fields: str) -> bool:
        """Send one notification; False (and a log line) when it could not be sent."""
        if self._sock is None or self.address is None:
            return False
        try:
            self._sock.sendto(message(**fields), self.address)
        except OSError as exc:
            log.warning("systemd notification %s not sent: %s", sorted(fields), exc)
            return False
        return True

    def ready(self, status: str) -> bool:
        return self.notify(READY="1", STATUS=status)

    def status(self, status: str) -> bool:
        return self.notify(STATUS=status)

    def stopping(self) -> bool:
        return self.notify(STOPPING="1", STATUS="stopping")

    async def keep_alive(self) -> None:
        """Ping the watchdog from this event loop until cancelled: if the loop stalls, the pings
        stop and systemd restarts the agent. Returns at once when there is no watchdog."""
        if self.watchdog_s is None:
            return
        while True:
            self.notify(WATCHDOG="1")
            await asyncio.sleep(self.watchdog_s)

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()
