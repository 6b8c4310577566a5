"""Wing policies as TOML files that staff read and edit (see gateway/policies/example.toml).

`load_rules(path)` reads one file and returns the policy's rules, fully validated (every check the
signed `wire.policy.WingPolicy` makes), or raises `PolicyFileError` whose message names the file,
the line and the field: nothing is published from a file that does not pass.
"""

from __future__ import annotations

import re
import tomllib
from datetime import date, datetime
from pathlib import Path
from typing import Any

import tomli_w
from pydantic import ValidationError

from common.config import in_words, toml_error
from wire.icons import ICON_NAMES
from wire.policy import WingPolicy, check_host_pattern, hhmm, parse_window, wing_policy

MAX_FILE_BYTES = 256 * 1024

# TOML key -> WingPolicy field, where staff see a friendlier name.
_TOP_LEVEL = {
    "name": "name",
    "timezone": "timezone",
    "warn_minutes": "warn_minutes",
    "always_allowed": "always_allowed",
    "note": "note",
    "curfew": "curfew",
    "bank_holiday": "day_regimes",
    "exception": "overrides",
    "lockdown": "lockdowns",
    "apps": "apps",
    "profiles": "profiles",
    "sites": "sites",
}
_FIELD_TO_TOML = {field: key for key, field in _TOP_LEVEL.items()}
_FIELD_TO_TOML["as_day"] = "as"

_PLACEHOLDER_ENVELOPE = {"audience": "wing:check", "version": 1, "issued": 0, "expires": 1}


_LOCAL_DATETIME_HINT = "must be a local date and time like 2026-12-24T23:00:00"


class PolicyFileError(Exception):
    """A policy file that cannot be used; the message is one line: `FILE:LINE: field: reason`."""


class _FieldError(Exception):
    def __init__(self, path: tuple[str | int, ...], message: str, value: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.message = message
        self.value = value
        """The offending text, to find its line inside a multi-line list."""


def load_rules(path: Path) -> dict[str, Any]:
    """The validated rules of the policy file at `path` (WingPolicy fields, no envelope)."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise PolicyFileError(f"{path}: cannot read: {exc.strerror}") from exc
    if len(raw) > MAX_FILE_BYTES:
        raise PolicyFileError(f"{path}: {len(raw)} bytes, the limit is {MAX_FILE_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyFileError(f"{path}: not UTF-8 text") from exc
    return parse_rules(text, source=str(path))


def parse_rules(text: str, *, source: str = "policy") -> dict[str, Any]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyFileError(toml_error(source, exc)) from exc
    except RecursionError as exc:
        raise PolicyFileError(f"{source}: not valid TOML: nested too deeply") from exc
    try:
        rules = _translate(data)
    except _FieldError as exc:
        raise PolicyFileError(_where(source, text, exc.path, exc.value) + exc.message) from exc
    try:
        wing_policy(rules, **_PLACEHOLDER_ENVELOPE)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = _toml_path(tuple(first["loc"]))
        message = in_words(first)
        raise PolicyFileError(_where(source, text, path) + message) from exc
    except ValueError as exc:  # a float somewhere: canonical JSON refuses them
        raise PolicyFileError(f"{source}: {exc} (write whole numbers)") from exc
    return rules


def rules_to_toml(policy: WingPolicy) -> str:
    """A policy's rules written back as a staff-readable TOML file (what `policy show` prints).

    Written by tomli_w, so any text (quotes, newlines, control characters) reads back the same."""
    data: dict[str, Any] = {
        "name": policy.name,
        "timezone": policy.timezone,
        "warn_minutes": list(policy.warn_minutes),
        "always_allowed": list(policy.always_allowed),
    }
    if policy.note:
        data["note"] = policy.note
    data["curfew"] = {"windows": [str(w) for w in policy.curfew]}
    if policy.day_regimes:
        data["bank_holiday"] = [
            {"name": d.name, "date": date.fromisoformat(d.date), "as": d.as_day}
            for d in policy.day_regimes
        ]
    if policy.overrides:
        data["exception"] = [
            {"name": o.name, "start": _local(o.start), "end": _local(o.end), "effect": o.effect}
            for o in policy.overrides
        ]
    if policy.lockdowns:
        data["lockdown"] = [
            {"name": lock.name, "start": _local(lock.start), "end": _local(lock.end)}
            for lock in policy.lockdowns
        ]
    data["apps"] = {
        app_id: {"name": app.name, "version": app.version,
                 **({"icon": app.icon} if app.icon else {}),
                 **({"names": dict(app.names)} if app.names else {})}
        for app_id, app in sorted(policy.apps.items())
    }
    if policy.sites:
        data["sites"] = {
            name: {"title": site.title, "purpose": site.purpose, "hosts": list(site.hosts),
                   **({"sensitive": True} if site.sensitive else {})}
            for name, site in sorted(policy.sites.items())
        }
    data["profiles"] = {
        name: {
            "apps": list(profile.apps),
            **({"sites": list(profile.sites)} if profile.sites else {}),
            **({"hours": {a: [str(w) for w in ws] for a, ws in profile.hours.items()}}
               if profile.hours else {}),
        }
        for name, profile in policy.profiles.items()
    }
    return tomli_w.dumps(data)


def _local(value: str) -> datetime:
    return datetime.fromisoformat(value)


# -- translation: TOML values -> WingPolicy fields -------------------------------------------


def _translate(data: dict[str, Any]) -> dict[str, Any]:
    rules: dict[str, Any] = {}
    for key, value in data.items():
        if key not in _TOP_LEVEL:
            known = ", ".join(sorted(_TOP_LEVEL))
            raise _FieldError((key,), f"unknown setting (known: {known})")
        rules[_TOP_LEVEL[key]] = value
    if "curfew" in rules:
        rules["curfew"] = _curfew(rules["curfew"])
    for field, key in (("day_regimes", "bank_holiday"), ("overrides", "exception"),
                       ("lockdowns", "lockdown")):
        if field in rules:
            items = _list(key, rules[field])
            rules[field] = [_one_off(key, i, item) for i, item in enumerate(items)]
    if "sites" in rules:
        sites = _table(("sites",), rules["sites"])
        rules["sites"] = {name: _site(name, _table(("sites", name), site))
                          for name, site in sites.items()}
    if isinstance(rules.get("apps"), dict):
        for app_id, entry in rules["apps"].items():
            _icon(app_id, entry)
            _release_version(app_id, entry)
    if "profiles" in rules:
        profiles = _table(("profiles",), rules["profiles"])
        rules["profiles"] = {
            name: _profile(name, _table(("profiles", name), profile))
            for name, profile in profiles.items()
        }
    return rules


def _icon(app_id: str, entry: Any) -> None:
    """An app's icon must be one the shell draws: a typo would show a generic tile."""
    icon = entry.get("icon") if isinstance(entry, dict) else None
    if isinstance(icon, str) and icon and icon not in ICON_NAMES:
        known = ", ".join(sorted(ICON_NAMES))
        raise _FieldError(("apps", app_id, "icon"), f"unknown icon {icon!r} (known: {known})")


def _release_version(app_id: str, entry: Any) -> None:
    """The pinned version must be one `cellbridge release app --version` can make: any other
    would never be found in the repository, and the app would never install."""
    version = entry.get("version") if isinstance(entry, dict) else None
    if isinstance(version, str) and not _RELEASE_VERSION.fullmatch(version):
        raise _FieldError(("apps", app_id, "version"), f"{version[:40]!r} is not {_VERSION_WORDS}")


_RELEASE_VERSION = re.compile(r"\d{1,9}(\.\d{1,9}){0,3}")
_VERSION_WORDS = "a release version: up to four numbers separated by dots, like 1.4.0"


def _list(key: str, value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise _FieldError((key,), f"use [[{key}]] tables")
    return value


def _table(path: tuple[str | int, ...], value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _FieldError(path, "must be a table")
    return value


def _windows(path: tuple[str | int, ...], value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise _FieldError(path, 'must be a list of windows like ["sun-thu 22:00-07:00"]')
    windows = []
    for i, text in enumerate(value):
        if not isinstance(text, str):
            raise _FieldError((*path, i), 'a window is text like "sun-thu 22:00-07:00"')
        try:
            windows.append(parse_window(text).model_dump(mode="json"))
        except ValueError as exc:
            raise _FieldError((*path, i), str(exc), value=text) from exc
    return windows


def _curfew(value: Any) -> list[Any]:
    table = _table(("curfew",), value)
    unknown = set(table) - {"windows"}
    if unknown:
        raise _FieldError(("curfew", sorted(unknown)[0]), "unknown setting (known: windows)")
    return _windows(("curfew", "windows"), table.get("windows", []))


def _one_off(key: str, index: int, item: Any) -> dict[str, Any]:
    table = dict(_table((key, index), item))
    for field in ("start", "end"):
        if field in table:
            table[field] = _local_datetime((key, index, field), table[field])
    if "date" in table:
        value = table["date"]
        if isinstance(value, date) and not isinstance(value, datetime):
            table["date"] = value.isoformat()
        elif not isinstance(value, str):
            raise _FieldError((key, index, "date"), "must be a date like 2026-12-25")
    if key == "bank_holiday" and "as" in table:
        table["as_day"] = table.pop("as")
    return table


def _local_datetime(path: tuple[str | int, ...], value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            raise _FieldError(path, "use the prison's local time, without an offset or Z")
        if value.second or value.microsecond:
            raise _FieldError(path, "give whole minutes (seconds must be :00)")
        return value.strftime("%Y-%m-%dT%H:%M")
    if isinstance(value, str):
        try:
            moment = datetime.strptime(value.strip().replace(" ", "T"), "%Y-%m-%dT%H:%M")
        except ValueError as exc:
            raise _FieldError(path, _LOCAL_DATETIME_HINT) from exc
        return moment.strftime("%Y-%m-%dT%H:%M")
    raise _FieldError(path, _LOCAL_DATETIME_HINT)


def _site(name: str, table: dict[str, Any]) -> dict[str, Any]:
    """A catalogue site; a host pattern that is not in its one spelling is refused on its line."""
    hosts = table.get("hosts")
    if isinstance(hosts, list):
        for i, host in enumerate(hosts):
            if not isinstance(host, str):
                raise _FieldError(("sites", name, "hosts", i),
                                  'a host is text like "www.gov.uk" or "*.gov.uk"')
            try:
                check_host_pattern(host)
            except ValueError as exc:
                raise _FieldError(("sites", name, "hosts", i), str(exc), value=host) from exc
    return dict(table)


def _profile(name: str, table: dict[str, Any]) -> dict[str, Any]:
    profile = dict(table)
    if "hours" in profile:
        hours = _table(("profiles", name, "hours"), profile["hours"])
        profile["hours"] = {
            app: _windows(("profiles", name, "hours", app), windows)
            for app, windows in hours.items()
        }
    return profile


# -- where an error is: TOML path and line ---------------------------------------------------


def _toml_path(loc: tuple[str | int, ...]) -> tuple[str | int, ...]:
    """A pydantic error location in WingPolicy terms → the path staff see in the TOML file."""
    path: list[str | int] = []
    for i, part in enumerate(loc):
        if isinstance(part, str) and part in _FIELD_TO_TOML and (i == 0 or part == "as_day"):
            path.append(_FIELD_TO_TOML[part])
            if part == "curfew":
                path.append("windows")
        elif isinstance(part, str) and "[" in part:  # pydantic's union/function tags: skip
            continue
        else:
            path.append(part)
    return tuple(path)


def _where(source: str, text: str, path: tuple[str | int, ...], value: str = "") -> str:
    line = _locate(text, path)
    if line is not None and value:
        lines = text.splitlines()
        line = next(
            (n for n in range(line, min(line + 100, len(lines) + 1)) if value in lines[n - 1]),
            line,
        )
    where = f"{source}:{line}" if line is not None else source
    return f"{where}: {_dotted(path)}: " if path else f"{where}: "


def _dotted(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part + 1}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _locate(text: str, path: tuple[str | int, ...]) -> int | None:
    """The line (1-based) where `path` is written, or its nearest enclosing table or key."""
    seen: dict[tuple[str | int, ...], int] = {}
    current: tuple[str | int, ...] = ()
    counts: dict[tuple[str | int, ...], int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if line.startswith("[["):
            name: tuple[str | int, ...] = tuple(_keys(line[2 : line.find("]]")]))
            counts[name] = counts.get(name, -1) + 1
            current = (*name, counts[name])
            seen.setdefault(current, number)
        elif line.startswith("["):
            current = tuple(_keys(line[1 : line.find("]")]))
            seen.setdefault(current, number)
        elif "=" in line and not line.startswith("#"):
            seen.setdefault((*current, *_keys(line.split("=", 1)[0])), number)
    for cut in range(len(path), 0, -1):
        if path[:cut] in seen:
            return seen[path[:cut]]
    return None


def _keys(dotted: str) -> list[str]:
    return [k.strip().strip('"').strip("'") for k in dotted.split(".")]


__all__ = ["PolicyFileError", "hhmm", "load_rules", "parse_rules", "rules_to_toml"]
