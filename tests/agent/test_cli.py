"""`cellbridge agent run`: a wrong configuration is a one-line error, not a traceback."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cellbridge.cli import main
from tests.support.agents import write_agent_config


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["agent", "run", *args])
    return result.exit_code, result.output


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    code, output = run("--config", str(tmp_path / "nope.toml"))
    assert code == 1
    assert "cannot read" in output and "nope.toml" in output


def test_an_invalid_tablet_id_is_refused(tmp_path: Path) -> None:
    config = write_agent_config(
        tmp_path, device_id="t1", wing="w1", broker_host="127.0.0.1", broker_port=1, gateway_keys=[]
    )
    config.write_text(config.read_text().replace('"t1"', '"t1/#"'))
    code, output = run("--config", str(config))
    assert code == 1
    assert "device_id" in output


def test_a_gateway_key_that_is_not_a_key_is_named(tmp_path: Path) -> None:
    bogus = tmp_path / "gateway.pem"
    bogus.write_text("not a key")
    config = write_agent_config(
        tmp_path,
        device_id="t1",
        wing="w1",
        broker_host="127.0.0.1",
        broker_port=1,
        gateway_keys=[bogus],
    )
    code, output = run("--config", str(config))
    assert code == 1
    assert "gateway.pem" in output and "Ed25519" in output


def test_a_config_without_gateway_keys_is_refused(tmp_path: Path) -> None:
    config = write_agent_config(
        tmp_path, device_id="t1", wing="w1", broker_host="127.0.0.1", broker_port=1, gateway_keys=[]
    )
    code, output = run("--config", str(config))
    assert code == 1
    assert "gateway_keys" in output


def test_a_config_file_that_is_not_utf8_is_a_one_line_error(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_bytes(b'device_id = "t1\xff"\n')
    code, output = run("--config", str(config))
    assert code == 1
    assert "agent.toml" in output and "UTF-8" in output


def test_a_config_file_nested_too_deeply_is_a_one_line_error(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text("device_id = " + "[" * 5000 + "\n")
    code, output = run("--config", str(config))
    assert code == 1
    assert "agent.toml" in output and "not valid TOML" in output
