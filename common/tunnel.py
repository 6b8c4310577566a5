"""Byte tunnels between two asyncio streams: what the tablet's web forwarder and the gateway's
TLS front both do once a CONNECT has been answered 200."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Awaitable, Callable

CHUNK = 65536


async def close(writer: asyncio.StreamWriter, timeout: float = 2.0) -> None:
    """Close gracefully (what was written, a refusal, still reaches the peer), in bounded time."""
    with contextlib.suppress(Exception):
        writer.close()
        await asyncio.wait_for(writer.wait_closed(), timeout)
    with contextlib.suppress(Exception):
        writer.transport.abort()


STREAM_ERRORS = (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                 TimeoutError, ssl.SSLError, OSError)
"""What a peer can cause on a connection: it ends that connection, nothing more."""

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def serve_once(handle: Handler, reader: asyncio.StreamReader,
                     writer: asyncio.StreamWriter) -> None:
    """Run `handle` for one connection; a peer's error ends it quietly; always closed after."""
    try:
        await handle(reader, writer)
    except STREAM_ERRORS:
        pass
    finally:
        await close(writer)


async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    """Copy until either side ends; then abort `sink` (its peer sees the tunnel end)."""
    try:
        while data := await source.read(CHUNK):
            sink.write(data)
            await sink.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            if not sink.transport.is_closing():
                sink.transport.abort()


async def splice(a: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                 b: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
    """Both directions at once, until either ends."""
    await asyncio.gather(pipe(a[0], b[1]), pipe(b[0], a[1]))
