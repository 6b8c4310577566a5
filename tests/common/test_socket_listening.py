"""`common.files.socket_listening`, and the gateway's API socket that relies on it: a stale
socket file left by a crash is replaced, a live one (another gateway) is refused."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from common.config import ConfigError
from common.files import socket_listening
from gateway.cli import bind_api_socket


def test_a_listening_socket_a_stale_one_and_no_file_are_told_apart(tmp_path: Path) -> None:
    path = tmp_path / "api.sock"
    assert not socket_listening(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    assert socket_listening(path)
    server.close()  # the file stays, nothing accepts: as after a crash
    assert path.exists() and not socket_listening(path)


def test_the_gateway_replaces_a_stale_api_socket_and_refuses_a_live_one(tmp_path: Path) -> None:
    path = tmp_path / "api.sock"
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(path))
    stale.close()
    live = bind_api_socket(path)
    try:
        live.listen()
        assert socket_listening(path)
        with pytest.raises(ConfigError, match="another gateway is already serving"):
            bind_api_socket(path)
    finally:
        live.close()
