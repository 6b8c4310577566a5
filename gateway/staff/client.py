"""The staff commands' one way to the gateway: JSON over its Unix socket, every failure an exit
code and one line on stderr.

Exit codes of every staff command: 0 done; 1 not every target confirmed within --wait (named on
stderr), an unlock a lockdown overrides under --wait, or the audit chain does not verify;
2 usage error, refused input or an unknown name; 3 gateway unreachable or failing.
"""

from __future__ import annotations

import getpass
import os
import ssl
import sys
from pathlib import Path
from typing import Any, NoReturn

import httpx

from common.staff_output import say
from gateway import DEFAULT_API_SOCKET

DEFAULT_API = DEFAULT_API_SOCKET
EXIT_PENDING, EXIT_REFUSED, EXIT_UNREACHABLE = 1, 2, 3
INSUFFICIENT_STORAGE = 507
"""The gateway's disk is full: nothing was changed (gateway.store.DiskFull)."""
NO_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
"""The API is plain HTTP over a Unix socket: no TLS is ever spoken. Given this context (which
verifies, and trusts no CA, so it could only refuse), httpx does not build its default one, which
loads the whole CA bundle (~30-60 ms of CPU) for every call."""


def fail(code: int, message: str) -> NoReturn:
    """One `Error:` line on stderr (the same prefix as click's usage errors), then exit with
    `code`."""
    say(f"Error: {message}", err=True)
    sys.exit(code)


def operator() -> str:
    """Who is acting, as recorded in the audit trail."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid{os.getuid()}"


class ApiClient:
    """JSON over the gateway's Unix socket; every failure becomes an exit code and one line."""

    def __init__(self, socket_path: Path) -> None:
        self.socket_path = socket_path

    def call(self, method: str, path: str, body: dict[str, Any] | None = None,
             timeout: float = 30.0, params: dict[str, Any] | None = None,
             missing_ok: bool = False) -> Any:
        """The answer's JSON; with `missing_ok`, None when the gateway has no such thing (404)
        instead of an error."""
        transport = httpx.HTTPTransport(uds=str(self.socket_path), verify=NO_TLS)
        try:
            with httpx.Client(transport=transport, base_url="http://gateway",
                              timeout=timeout) as client:
                response = client.request(method, path, json=body, params=params)
        except httpx.TimeoutException:
            fail(EXIT_UNREACHABLE, f"gateway at {self.socket_path} did not answer in {timeout:g}s")
        except httpx.HTTPError as exc:
            fail(EXIT_UNREACHABLE, f"gateway unreachable at {self.socket_path}: {exc}")
        try:
            data = response.json()
        except ValueError:
            data = None
        if missing_ok and response.status_code == 404:
            return None
        if response.status_code >= 400:
            detail = data.get("detail") if isinstance(data, dict) else None
            message = detail if isinstance(detail, str) else response.reason_phrase
            if 400 <= response.status_code < 500:
                fail(EXIT_REFUSED, message)
            if response.status_code == INSUFFICIENT_STORAGE:  # the message says it all
                fail(EXIT_UNREACHABLE, message)
            fail(EXIT_UNREACHABLE, f"gateway failed ({response.status_code}): {message}")
        if data is None:
            fail(EXIT_UNREACHABLE, "gateway answered with something that is not JSON")
        return data
