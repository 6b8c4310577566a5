"""HTTPS server for a wing's TUF repository (metadata and bundles), with Range requests.

Static files only: Starlette's `StaticFiles` answers `Range` with 206 (tablets resume bundle
downloads), and uvicorn terminates TLS with the gateway's certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from os import PathLike
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.responses import FileResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Scope

from gateway.repository import GatewayRepository, RepositoryConfig

CHUNK = 1024 * 1024


class _RepositoryFiles(StaticFiles):
    """Static files sent in 1 MiB chunks (Starlette's 64 KiB costs a thread hop per chunk)."""

    def file_response(self, full_path: str | PathLike[str], stat_result: os.stat_result,
                      scope: Scope, status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        if isinstance(response, FileResponse):
            response.chunk_size = CHUNK
        return response


def repository_app(directory: Path) -> Starlette:
    """`/metadata/…` and `/targets/…` of a published repository directory."""
    directory = Path(directory)
    (directory / "metadata").mkdir(parents=True, exist_ok=True)
    (directory / "targets").mkdir(parents=True, exist_ok=True)
    return Starlette(routes=[
        Mount("/metadata", _RepositoryFiles(directory=directory / "metadata")),
        Mount("/targets", _RepositoryFiles(directory=directory / "targets")),
    ])


def server_config(directory: Path, host: str, port: int, certfile: Path, keyfile: Path,
                  ) -> uvicorn.Config:
    return uvicorn.Config(
        repository_app(directory), host=host, port=port, ssl_certfile=str(certfile),
        ssl_keyfile=str(keyfile), log_level="warning", access_log=False, lifespan="off",
    )


async def serve(directory: Path, host: str, port: int, certfile: Path, keyfile: Path) -> None:
    """Serve until cancelled (for the gateway service's event loop)."""
    await uvicorn.Server(server_config(directory, host, port, certfile, keyfile)).serve()


async def run_repository(config: RepositoryConfig) -> None:
    """The gateway's repository duties, until cancelled: serve it, keep its timestamp fresh."""

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # signals belong to the gateway process

    server = Server(server_config(config.dir, config.host, config.port, config.cert,
                                  config.key))
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(server.serve())
        tasks.create_task(GatewayRepository(config.dir).keep_fresh(config.refresh_interval_s))


@contextlib.contextmanager
def serving_in_thread(directory: Path, certfile: Path, keyfile: Path, host: str = "127.0.0.1",
                      port: int = 0, wrap: Callable[[ASGIApp], ASGIApp] | None = None,
                      ) -> Iterator[str]:
    """Run the server on a background thread (demo, tests, bench); yields its base URL.

    `wrap` puts ASGI middleware around the app (tests use it to play a hostile gateway)."""
    import socket

    # proto must say TCP: asyncio sets TCP_NODELAY only on such sockets, and without it every
    # response waits ~40 ms for a delayed ACK between its headers and its body (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind((host, port))
    port = sock.getsockname()[1]
    config = server_config(directory, host, port, certfile, keyfile)
    if wrap is not None:
        config.app = wrap(config.app)  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              daemon=True, name="tuf-repository")
    thread.start()
    while not server.started and thread.is_alive():
        threading.Event().wait(0.02)
    try:
        yield f"https://{host}:{port}"
    finally:
        server.should_exit = True
        server.force_exit = True
        thread.join(10)
        sock.close()
