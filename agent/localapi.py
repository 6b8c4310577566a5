"""The shell's Unix socket (`wire.localapi`, JSON lines): `get` answers the current state,
`watch` answers it and then pushes every change.

Each client has a small bounded queue; a client that does not keep up, or sends a line too long
to resynchronise on, is dropped without slowing the others. A garbage line gets an error line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path

from wire import localapi
from wire.localapi import (
    ErrorMessage,
    GetRequest,
    LaunchReply,
    LaunchRequest,
    RequestSaved,
    ShellState,
    StateMessage,
    SubmitRequest,
    WebOpenRequest,
)

log = logging.getLogger(__name__)

QUEUE_SIZE = 8
MAX_CLIENTS = 32
WRITE_TIMEOUT_S = 5.0


class _Client:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.queue: asyncio.Queue[bytes] = asyncio.Queue(QUEUE_SIZE)
        self.watching = False

    def send(self, line: bytes) -> bool:
        """Queue `line`; False when the client is too far behind (it gets dropped)."""
        try:
            self.queue.put_nowait(line)
        except asyncio.QueueFull:
            return False
        return True

    def drop(self) -> None:
        self.writer.transport.abort()


class LocalApi:
    """The socket server. `publish(state)` pushes to every watcher; `current` answers `get`."""

    def __init__(
        self,
        path: Path,
        mode: int,
        current: Callable[[], ShellState],
        launch: Callable[[LaunchRequest | WebOpenRequest], Awaitable[LaunchReply]] | None = None,
        submit: Callable[[SubmitRequest], Awaitable[RequestSaved]] | None = None,
    ) -> None:
        self.path = path
        self._submit = submit
        self._launch = launch
        self.mode = mode
        self._current = current
        self._clients: set[_Client] = set()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(os.lstat(self.path).st_mode):
                self.path.unlink()  # left by an agent that died
        self._server = await asyncio.start_unix_server(
            self._serve, path=self.path, limit=localapi.MAX_LINE + 1
        )
        os.chmod(self.path, self.mode)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for client in list(self._clients):
            client.drop()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
        with contextlib.suppress(OSError):
            self.path.unlink()

    @property
    def watchers(self) -> int:
        """Shells currently watching (the update health check wants one alive)."""
        return sum(1 for client in self._clients if client.watching)

    def publish(self, state: ShellState) -> None:
        line = localapi.encode(StateMessage(state=state))
        for client in list(self._clients):
            if client.watching and not client.send(line):
                log.warning("%s: shell client too slow; dropped", self.path)
                self._clients.discard(client)
                client.drop()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._clients) >= MAX_CLIENTS:
            writer.write(localapi.encode(ErrorMessage(error="too many clients")))
            writer.close()
            return
        client = _Client(writer)
        self._clients.add(client)
        sender = asyncio.create_task(self._send_loop(client))
        self._tasks.add(sender)
        sender.add_done_callback(self._tasks.discard)
        try:
            await self._read_loop(reader, client)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._clients.discard(client)
            sender.cancel()
            client.drop()

    async def _read_loop(self, reader: asyncio.StreamReader, client: _Client) -> None:
        while True:
            try:
                line = await reader.readline()
            except (asyncio.LimitOverrunError, ValueError):
                # Cannot find the next line boundary: answer, then hang up.
                client.writer.write(localapi.encode(ErrorMessage(error="line too long")))
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(client.writer.drain(), 1.0)
                return
            if not line:
                return
            if not line.strip():
                continue
            try:
                request = localapi.parse_request(line)
            except ValueError as exc:
                if not client.send(localapi.encode(ErrorMessage(error=str(exc)[:200]))):
                    return
                continue
            if isinstance(request, LaunchRequest | WebOpenRequest):
                if not client.send(localapi.encode(await self._answer_launch(request))):
                    return
                continue
            if isinstance(request, SubmitRequest):
                if not client.send(localapi.encode(await self._answer_submit(request))):
                    return
                continue
            if not isinstance(request, GetRequest):
                client.watching = True
            if not client.send(localapi.encode(StateMessage(state=self._current()))):
                return

    async def _answer_launch(self, request: LaunchRequest | WebOpenRequest) -> LaunchReply:
        """The agent's yes or no to an app or to the Web app's browser (`app="web"`); any
        failure answering is a no (fail closed)."""
        app = request.app if isinstance(request, LaunchRequest) else "web"
        if self._launch is None:
            return LaunchReply(app=app, ok=False, reason="launching is not available")
        try:
            return await self._launch(request)
        except Exception:
            log.exception("%s: launch check failed", self.path)
            return LaunchReply(app=app, ok=False, reason="internal error")

    async def _answer_submit(self, request: SubmitRequest) -> RequestSaved:
        """Saved, or a short reason why not; never an unhandled error."""
        if self._submit is None:
            return RequestSaved(ok=False, reason="requests are not available")
        try:
            return await self._submit(request)
        except Exception:
            log.exception("%s: saving a request failed", self.path)
            return RequestSaved(ok=False, reason="internal error")

    async def _send_loop(self, client: _Client) -> None:
        try:
            while True:
                line = await client.queue.get()
                client.writer.write(line)
                await asyncio.wait_for(client.writer.drain(), WRITE_TIMEOUT_S)
        except (ConnectionError, TimeoutError):
            self._clients.discard(client)
            client.drop()
