"""HTTPS server for a wing's TUF repository (metadata and bundles), with Range requests.

Static files only: Starlette's `StaticFiles` answers `Range` with 206 (tablets resume bundle
downloads), and uvicorn terminates TLS with the gateway's certificate.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles


def repository_app(directory: Path) -> Starlette:
    """`/metadata/…` and `/targets/…` of a published repository directory."""
    directory = Path(directory)
    (directory / "metadata").mkdir(parents=True, exist_ok=True)
    (directory / "targets").mkdir(parents=True, exist_ok=True)
    return Starlette(routes=[
        Mount("/metadata", StaticFiles(directory=directory / "metadata")),
        Mount("/targets", StaticFiles(directory=directory / "targets")),
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


@contextlib.contextmanager
def serving_in_thread(directory: Path, certfile: Path, keyfile: Path, host: str = "127.0.0.1",
                      port: int = 0) -> Iterator[str]:
    """Run the server on a background thread (demo, tests, bench); yields its base URL."""
    import socket

    sock = socket.socket()
    sock.bind((host, port))
    port = sock.getsockname()[1]
    server = uvicorn.Server(server_config(directory, host, port, certfile, keyfile))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              daemon=True, name="tuf-repository")
    thread.start()
    while not server.started and thread.is_alive():
        threading.Event().wait(0.02)
    try:
        yield f"https://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
