"""A configuration file's mistake is one line in the operator's words: the key, what was wrong,
what is expected; a misspelt key is named as the typo, not as the key it should have been."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.config import ConfigError, Settings, load


class Example(Settings):
    device_id: str
    port: int = 8883
    tls: bool = True
    names: tuple[str, ...] = ()


@pytest.mark.parametrize(("toml", "message"), [
    ('devce_id = "T-1"\n', "devce_id: unknown setting (a typo?)"),
    ("port = 1\n", "device_id: missing: this setting is required"),
    ('device_id = "T-1"\nport = "eighty"\n', "port: 'eighty' should be a whole number"),
    ('device_id = "T-1"\ntls = "maybe"\n', "tls: 'maybe' should be true or false"),
    ('device_id = 7\n', "device_id: 7 should be text in quotes"),
    ('device_id = "T-1"\nnames = "a"\n', "names: 'a' should be a list, like [15, 5, 1]"),
])
def test_a_mistake_names_the_key_and_what_is_expected(tmp_path: Path, toml: str,
                                                      message: str) -> None:
    path = tmp_path / "x.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError) as caught:
        load(Example, path)
    assert str(caught.value) == f"{path}: {message}"
    assert not any(dump in str(caught.value) for dump in ("Input should", "Field required",
                                                          "Extra inputs", "validation error"))


def test_a_toml_syntax_error_leads_with_its_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    path.write_text('device_id = "T-1"\nport = \n')
    with pytest.raises(ConfigError) as caught:
        load(Example, path)
    assert str(caught.value) == f"{path}:2: not valid TOML: Invalid value (column 8)"
