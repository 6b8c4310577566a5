"""The console's HTTPS server, run beside the control API inside `gateway run`."""

from __future__ import annotations

import uvicorn

from common.staff_web.serving import https_server
from gateway.config import ConsoleConfig
from gateway.console.app import make_console_app
from gateway.console.web import Console


def console_server(console: Console, config: ConsoleConfig) -> uvicorn.Server:
    """With the wing CA's server certificate for the console."""
    return https_server(make_console_app(console), config)
