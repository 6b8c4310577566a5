"""A small reader for systemd unit files (keys may repeat, unlike INI)."""

from __future__ import annotations

from pathlib import Path

Unit = dict[str, dict[str, list[str]]]


def read_unit(path: Path) -> Unit:
    unit: Unit = {}
    section = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            unit.setdefault(section, {})
            continue
        key, _, value = line.partition("=")
        unit[section].setdefault(key.strip(), []).append(value.strip())
    return unit


def one(unit: Unit, section: str, key: str) -> str:
    values = unit.get(section, {}).get(key, [])
    assert len(values) == 1, f"{section}.{key}: {values}"
    return values[0]
