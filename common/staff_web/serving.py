"""A console's HTTPS server (uvicorn), run inside its service (`gateway run`, `prison run`)."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from common.staff_web.config import ConsoleConfig


class QuietServer(uvicorn.Server):
    """Signals are the service's: uvicorn would re-raise them after shutting down."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def https_server(app: FastAPI, config: ConsoleConfig) -> uvicorn.Server:
    """TLS 1.2+ only, with the server certificate its CA issued for the console."""
    return QuietServer(uvicorn.Config(
        app, host=config.host, port=config.port, ssl_certfile=str(config.cert),
        ssl_keyfile=str(config.key),
        ssl_version=ssl.PROTOCOL_TLS_SERVER, log_level="warning", lifespan="off",
        access_log=False, timeout_graceful_shutdown=2, proxy_headers=False,
        server_header=False,
    ))
