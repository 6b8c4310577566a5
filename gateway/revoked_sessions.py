"""Ending a revoked tablet's live session: the CRL keeps it from connecting again, but a session
already up outlives a CRL reload (Mosquitto checks the CRL only during the TLS handshake).

The gateway watches `revoked.json` (written by `provision revoke`) and, for each tablet newly
listed, asks the broker's dynamic-security plugin to disable it (`createClient` + `disableClient`
on `$CONTROL/dynamic-security/v1`): the broker disconnects the client at once and, since the
plugin then knows it with no role, denies it every publish and subscription even if it got back
in. On every (re)connect the whole list is sent again (the broker may have lost its plugin file).
Why the broker's plugin and not the gateway: the broker forces client id = certificate CN, so no
other client can push a tablet's session off, and only the broker can end a connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Iterable

from gateway.publisher import Publisher
from gateway.revoked_watch import RevokedWatch
from gateway.store import Audit

log = logging.getLogger(__name__)

DYNSEC_TOPIC = "$CONTROL/dynamic-security/v1"
"""Granted by name to the gateway in the broker's ACL (provisioning/mosquitto_conf.py)."""
POLL_S = 1.0
"""How often `revoked.json` is looked at: well inside the 5 s a revoked session may last."""


def disable_commands(tablet_ids: Iterable[str]) -> bytes:
    """One control message disabling each tablet. `createClient` answers "already exists" for a
    tablet disabled before, which is harmless; its password is random and thrown away (tablets
    authenticate by certificate, never by password)."""
    commands: list[dict[str, str]] = []
    for tablet_id in sorted(tablet_ids):
        commands += [
            {"command": "createClient", "username": tablet_id, "password": secrets.token_hex(16)},
            {"command": "disableClient", "username": tablet_id},
        ]
    return json.dumps({"commands": commands}).encode()


class RevokedSessions:
    def __init__(self, watch: RevokedWatch, publisher: Publisher,
                 audit: Callable[[Audit], Awaitable[None]], clock: Callable[[], int],
                 poll_s: float = POLL_S) -> None:
        self._watch = watch
        self._publisher = publisher
        self._audit = audit
        self._clock = clock
        self._poll_s = poll_s
        self._sent: frozenset[str] = frozenset()
        self._audited: set[str] = set()

    async def on_connect(self) -> None:
        """(Re)connected: the whole list again."""
        self._sent = frozenset()
        await self.check()

    async def run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self._poll_s)

    async def check(self) -> None:
        """Disable every listed tablet not yet disabled over this session."""
        revoked = self._watch.ids()
        fresh = revoked - self._sent
        if not fresh:
            return
        if not await self._publisher.publish(DYNSEC_TOPIC, disable_commands(fresh),
                                             retain=False):
            return  # no session: tried again on connect
        self._sent = self._sent | fresh
        now = self._clock()
        for tablet_id in sorted(fresh - self._audited):
            self._audited.add(tablet_id)
            log.warning("revoked tablet %s: its broker session is ended and disabled", tablet_id)
            await self._audit(Audit(now, "system", "revoked_session_ended", f"device:{tablet_id}",
                                    {"via": "mosquitto dynamic-security disableClient"}))
