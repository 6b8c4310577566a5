"""The console's HTTPS server (uvicorn), run beside the control API inside `gateway run`."""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterator

import uvicorn

from gateway.config import ConsoleConfig
from gateway.console.app import make_console_app
from gateway.console.web import Console


class QuietServer(uvicorn.Server):
    """Signals are the gateway's: uvicorn would re-raise them after shutting down."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def console_server(console: Console, config: ConsoleConfig) -> uvicorn.Server:
    """TLS 1.2+ only, with the wing CA's server certificate for the console."""
    return QuietServer(uvicorn.Config(
        make_console_app(console), host=config.host, port=config.port,
        ssl_certfile=str(config.cert), ssl_keyfile=str(config.key),
        ssl_version=ssl.PROTOCOL_TLS_SERVER, log_level="warning", lifespan="off",
        access_log=False, timeout_graceful_shutdown=2, proxy_headers=False,
        server_header=False,
    ))
