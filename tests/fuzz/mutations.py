"""Structured mutations of valid JSON documents, each invalid by construction: what a hostile peer
sends when it knows the contract. Pure; driven by a seeded `random.Random` so a failure replays."""

from __future__ import annotations

import json
import random
from typing import Any

Path = tuple[str | int, ...]

MARK = "\u0000MARK\u0000"


def leaves(value: Any, path: Path = ()) -> list[tuple[Path, Any]]:
    """Every (path, value) in a JSON tree, containers included (a container is a value too)."""
    found: list[tuple[Path, Any]] = [(path, value)] if path else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += leaves(item, (*path, index))
    return found


def replace(tree: Any, path: Path, new: Any) -> Any:
    if not path:
        return new
    copy = json.loads(json.dumps(tree))
    node = copy
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = new
    return copy


def dumps(tree: Any) -> str:
    return json.dumps(tree, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def splice(tree: Any, path: Path, raw: str) -> str:
    """The JSON text of `tree` with the value at `path` replaced by raw JSON text."""
    return dumps(replace(tree, path, MARK)).replace(json.dumps(MARK, ensure_ascii=False), raw)


def _other_type(value: Any, rng: random.Random) -> Any:
    options: list[Any] = []
    if not isinstance(value, str):
        options.append("".join(rng.choice("ab1 -_") for _ in range(rng.randint(0, 8))))
    if isinstance(value, bool) or not isinstance(value, int):
        options.append(rng.randint(-(2**40), 2**40))
    if not isinstance(value, bool):
        options.append(rng.choice([True, False]))
    if not isinstance(value, list):
        options.append([rng.randint(0, 9)] * rng.randint(0, 3))
    if not isinstance(value, dict):
        options.append({"k": rng.randint(0, 9)})
    return rng.choice(options)


KINDS = ("wrong type", "out of range", "float", "surrogate", "deep", "unknown field",
         "missing field", "oversized")


def mutate(tree: dict[str, Any], required: list[str], cap: int, rng: random.Random,
           kind: str | None = None) -> tuple[str, bytes]:
    """One hostile payload derived from a valid `tree`, and the kind of mutation made."""
    kind = kind or rng.choice(KINDS)
    spots = leaves(tree)
    if kind == "wrong type":
        path, value = rng.choice([(p, v) for p, v in spots if v is not None])
        text = dumps(replace(tree, path, _other_type(value, rng)))
    elif kind == "out of range":
        ints = [(p, v) for p, v in spots if isinstance(v, int) and not isinstance(v, bool)]
        path, _ = rng.choice(ints)
        text = dumps(replace(tree, path, rng.choice([-1, -(2**63), 2**53, 2**64, 10**30])))
    elif kind == "float":
        path, _ = rng.choice(spots)
        text = splice(tree, path, rng.choice(["NaN", "Infinity", "-Infinity", "1e999", "0.5"]))
    elif kind == "surrogate":
        strings = [(p, v) for p, v in spots if isinstance(v, str)]
        path, value = rng.choice(strings)
        text = dumps(replace(tree, path, value + chr(rng.randint(0xD800, 0xDFFF))))
    elif kind == "deep":
        path, _ = rng.choice(spots)
        depth = rng.randint(200, 50_000)
        text = splice(tree, path, "[" * depth + "]" * depth)
    elif kind == "unknown field":
        objects = [((), tree)] + [(p, v) for p, v in spots if isinstance(v, dict)]
        path, node = rng.choice(objects)
        text = dumps(replace(tree, path, {**node, f"x_{rng.randint(0, 999)}": 1}))
    elif kind == "missing field":
        name = rng.choice(required)
        text = dumps({k: v for k, v in tree.items() if k != name})
    elif kind == "oversized":
        strings = [(p, v) for p, v in spots if isinstance(v, str)]
        path, _ = rng.choice(strings)
        text = dumps(replace(tree, path, "x" * (cap + rng.randint(1, 4096))))
    else:
        raise ValueError(kind)
    return kind, text.encode("utf-8", "surrogatepass")
