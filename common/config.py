"""TOML configuration files: parsed once, validated by pydantic, errors in one line."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """A configuration file that cannot be used; the message is one line for the operator."""


class Settings(BaseModel):
    """Base for configuration models: unknown keys are mistakes, not extensions."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def load(model: type[M], path: Path | None, **defaults: object) -> M:
    """Load `path` (TOML) into `model`; keys missing from the file fall back to `defaults`."""
    data: dict[str, object] = dict(defaults)
    if path is not None:
        try:
            data.update(tomllib.loads(Path(path).read_text(encoding="utf-8")))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
        except RecursionError as exc:
            raise ConfigError(f"{path}: not valid TOML: nested too deeply") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path or 'configuration'}: {where}: {first['msg']}") from exc
