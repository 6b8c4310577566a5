"""The gateway's decision socket: where Squid's helper (`gateway.squid_helper`) asks.

One line in, `TABLET HOST SNI MODE`; one line out, `OK REASON` or `ERR REASON`, in order. Mode
`connect` is the CONNECT (tablet, host); mode `sni` adds the TLS ClientHello's server name, which
must be present and name the same host as the CONNECT (so a tunnel opened for an allowed name
cannot carry a handshake for another: domain fronting, an ECH outer name). `answer_line` is pure
over the feature's `decide`; the server is a thin asyncio loop around it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from pathlib import Path

from wire.hostnames import HostError, normalise_host
from wire.webaccess import WebDecision

log = logging.getLogger(__name__)

MAX_LINE = 1024

Decide = Callable[[str, str], WebDecision]


def answer_line(line: str, decide: Decide) -> str:
    """The answer to one question line (never raises)."""
    parts = line.split()
    if len(parts) != 4 or parts[3] not in ("connect", "sni"):
        return "ERR bad_request"
    tablet, host, sni, mode = parts
    decision = decide(tablet, host)
    if mode == "sni":
        if sni == "-":
            return "ERR no_sni"
        try:
            named = normalise_host(sni)
        except HostError as exc:
            return f"ERR sni_{exc.reason}"
        if decision.host and named != decision.host:
            return "ERR sni_mismatch"
    return f"{'OK' if decision.allowed else 'ERR'} {decision.reason}"


class DecisionServer:
    def __init__(self, path: Path, decide: Decide, group: int | None = None) -> None:
        self.path = path
        self._decide = decide
        self._group = group
        self._server: asyncio.AbstractServer | None = None

    async def start(self) -> None:
        self.path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._serve, str(self.path))
        if self._group is not None:
            os.chown(self.path, -1, self._group)
        self.path.chmod(0o660)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
        self.path.unlink(missing_ok=True)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pending = b""
        try:
            while chunk := await reader.read(65536):
                *lines, pending = (pending + chunk).split(b"\n")
                if len(pending) > MAX_LINE:
                    break
                answers = [answer_line(line.decode("utf-8", "replace"), self._decide)
                           for line in lines]
                if answers:  # a batch the helper pipelined: one write, one drain
                    writer.write("".join(a + "\n" for a in answers).encode())
                    await writer.drain()
        except (ConnectionError, ValueError):
            pass
        finally:
            writer.close()
