"""The gateway's configuration: mistakes are refused when it is read, in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.config import ConfigError, load
from gateway.config import GatewayConfig

BASE = 'wing = "A"\nstate_dir = "/tmp/x"\nsigning_key = "/tmp/k.pem"\n'
CONSOLE = '[console]\ncert = "c.pem"\nkey = "c.key"\n'
REPOSITORY = '[repository]\ndir = "repo"\ncert = "r.pem"\nkey = "r.key"\n'


def read(tmp_path: Path, text: str) -> GatewayConfig:
    path = tmp_path / "gateway.toml"
    path.write_text(BASE + text)
    return load(GatewayConfig, path)


def test_the_console_and_the_repository_default_to_different_ports(tmp_path):
    config = read(tmp_path, CONSOLE + REPOSITORY)
    assert config.console is not None and config.repository is not None
    assert (config.console.port, config.repository.port) == (9443, 8443)


def test_two_listeners_on_one_port_are_refused_naming_both(tmp_path):
    with pytest.raises(ConfigError, match=r"\[console\] and \[repository\] are both on port 8443"):
        read(tmp_path, CONSOLE + "port = 8443\n" + REPOSITORY)
