"""The shell's side of a request, for tests: one `request` op over the agent's socket."""

from __future__ import annotations

import json
import socket
from pathlib import Path

from wire.localapi import PersonReply, RequestSaved, encode, parse_message
from wire.model import Document


def submit(sock_path: Path, type_: str, text: str, timeout: float = 10.0) -> RequestSaved:
    """Send a request as the shell does and return the agent's answer."""
    # Built by hand, not through `SubmitRequest`: tests also send what the agent must refuse.
    line = json.dumps({"op": "request", "type": type_, "text": text}).encode() + b"\n"
    message = _exchange(sock_path, line, timeout)
    if not isinstance(message, RequestSaved):
        raise RuntimeError(f"agent answered {message}")
    return message


def person(sock_path: Path, request: Document, timeout: float = 30.0) -> PersonReply:
    """A sign-in, PIN or sign-out op as the shell sends it; the agent's answer."""
    message = _exchange(sock_path, encode(request), timeout)
    if not isinstance(message, PersonReply):
        raise RuntimeError(f"agent answered {message}")
    return message


def _exchange(sock_path: Path, line: bytes, timeout: float) -> object:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(sock_path))
        sock.sendall(line)
        buffer = b""
        while b"\n" not in buffer:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("agent closed the socket")
            buffer += chunk
    return parse_message(buffer.partition(b"\n")[0])
