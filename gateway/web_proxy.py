"""The wing's web proxy, composed (DESIGN §8): Squid as a child process, the decision socket its
helper asks, the TLS front tablets connect to, the browsing record read from Squid's access log,
and the re-checks that cut open tunnels. Handed the web feature (`WebAccess`) and the record."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from gateway.squid import Squid
from gateway.web_decider import DecisionServer
from gateway.web_front import TlsFront
from gateway.web_grants import WebAccess
from gateway.web_log import BrowsingRecord, LogEntry
from gateway.web_proxy_config import WebProxyConfig
from wire.webaccess import WebDecision

log = logging.getLogger(__name__)


class WebProxy:
    def __init__(self, config: WebProxyConfig, state_dir: Path, web: WebAccess,
                 record: BrowsingRecord, clock: Callable[[], int]) -> None:
        self.config = config
        self._web = web
        self._record = record
        self._clock = clock
        self.squid = Squid(config.squid, config.squid_dir or state_dir / "squid",
                           config.squid_port, config.hosts_file, config.helper_python,
                           config.helper_children)
        self.decider = DecisionServer(self.squid.settings.decider_socket, self._decide,
                                      self.squid.group)
        self.front = TlsFront(config.cert, config.key, config.ca, config.crl,
                              lambda: self.squid.port, self._decide, self._refused, clock)
        self._poke = asyncio.Event()
        web.on_change.append(lambda _subject: self._poke.set())
        self._pending: list[LogEntry] = []
        self.port = 0

    def _decide(self, device: str, host: str) -> WebDecision:
        return self._web.decide(device, host)

    def _refused(self, entry: LogEntry) -> None:
        self._pending.append(entry)

    async def _write_refusals(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            if self._pending:
                batch, self._pending = self._pending, []
                await self._record.keep(batch, self._clock())

    async def run(self) -> None:
        await self.decider.start()
        try:
            self.port = await self.front.start(self.config.host, self.config.port)
            log.info("web proxy on %s:%s (squid on 127.0.0.1:%s)", self.config.host, self.port,
                     self.squid.port)
            async with asyncio.TaskGroup() as group:
                group.create_task(self.squid.run())
                group.create_task(self.front.run_rechecks(self.config.recheck_s, self._poke))
                group.create_task(self._record.follow(self.squid.settings.access_log,
                                                      self._clock))
                group.create_task(self._write_refusals())
        finally:
            with contextlib.suppress(Exception):
                await self.front.close()
            await self.decider.close()
