"""TOML configuration files: parsed once, validated by pydantic, errors in one line."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any, TypeVar

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
            raise ConfigError(toml_error(str(path), exc)) from exc
        except RecursionError as exc:
            raise ConfigError(f"{path}: not valid TOML: nested too deeply") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # A misspelt key is both unknown and, under its right name, missing: name the typo.
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path or 'configuration'}: {where}: {in_words(first)}") from exc


def toml_error(source: str, error: tomllib.TOMLDecodeError) -> str:
    """A TOML syntax error as `FILE:LINE: not valid TOML: reason (column C)`, the position
    moved to the front where editors and staff look for it."""
    found = re.fullmatch(r"(.*) \(at line (\d+), column (\d+)\)", str(error))
    if found is None:
        return f"{source}: not valid TOML: {error}"
    reason, line, column = found.groups()
    return f"{source}:{line}: not valid TOML: {reason} (column {column})"


def in_words(error: Any) -> str:
    """One pydantic error as an operator reads it: what was wrong and what is expected, never a
    regular expression or a validation dump."""
    kind, value = error.get("type", ""), error.get("input")
    shown = repr(value)[:60] if isinstance(value, str | int | bool) else "this value"
    limit = (error.get("ctx") or {}).get("max_length")
    if kind == "missing":
        return "missing: this setting is required"
    if kind == "extra_forbidden":
        return "unknown setting (a typo?)"
    if kind == "string_too_long" and limit is not None:
        return f"{shown} is longer than {limit} characters"
    if kind == "string_pattern_mismatch":
        return f"{shown} is not allowed here: use letters, digits and simple punctuation"
    if kind in _EXPECTED:
        return f"{shown} should be {_EXPECTED[kind]}"
    message = str(error["msg"]).removeprefix("Value error, ")
    return message.replace("Input should be", f"{shown} should be", 1)


_EXPECTED = {"string_type": "text in quotes", "int_type": "a whole number",
             "int_parsing": "a whole number", "list_type": "a list, like [15, 5, 1]",
             "tuple_type": "a list, like [15, 5, 1]", "dict_type": "a table",
             "bool_type": "true or false", "bool_parsing": "true or false"}
