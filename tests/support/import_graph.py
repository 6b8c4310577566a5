"""The project's architecture as data: which package may import which, read from the source.

The layering is one line: ``wire`` ← ``common`` ← ``agent``, ``device``, ``gateway``,
``prison``, ``provisioning`` (none of these five imports another) ← ``cellbridge``. Every ``import`` counts,
including those inside functions and under ``TYPE_CHECKING``: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

# package -> the packages of ours it may import (besides itself)
ALLOWED: dict[str, frozenset[str]] = {
    "wire": frozenset(),
    "common": frozenset({"wire"}),
    "agent": frozenset({"wire", "common"}),
    "device": frozenset({"wire", "common"}),
    "gateway": frozenset({"wire", "common"}),
    "provisioning": frozenset({"wire", "common"}),
    "prison": frozenset({"wire", "common"}),
    "cellbridge": frozenset(
        {"wire", "common", "agent", "device", "gateway", "prison", "provisioning"}
    ),
}

# Names on another object that are public by convention despite the underscore.
PUBLIC_UNDERSCORE = frozenset({"_", "_replace", "_asdict", "_fields", "_make", "_exit", "_value_"})


@dataclass(frozen=True)
class Import:
    """One import statement: ``source`` (a module) depends on ``target`` (a module)."""

    source: str
    target: str
    path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.source} imports {self.target}"


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(root: Path, packages: Iterable[str]) -> Iterator[Path]:
    for package in packages:
        base = root / package
        if base.is_dir():
            yield from sorted(base.rglob("*.py"))


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports(root: Path, packages: Iterable[str] = ALLOWED) -> list[Import]:
    """Every import of one of ``packages`` made by a module of ``packages`` under ``root``."""
    ours = set(packages)
    found: list[Import] = []
    for path in source_files(root, ours):
        module = module_name(root, path)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(module, path.name == "__init__.py", node)
                # `from pkg import mod` depends on pkg.mod when that is a module of ours
                for alias in node.names:
                    candidate = f"{base}.{alias.name}"
                    as_path = root / Path(*candidate.split("."))
                    is_module = as_path.with_suffix(".py").is_file() or as_path.is_dir()
                    targets.append(candidate if is_module else base)
            for target in targets:
                if target.split(".")[0] in ours:
                    found.append(Import(module, target, path, node.lineno))
    return found


def upward_imports(found: Iterable[Import]) -> list[Import]:
    """Imports that break the layering: a package importing one it may not."""
    wrong = []
    for imp in found:
        source, target = imp.source.split(".")[0], imp.target.split(".")[0]
        if source != target and target not in ALLOWED.get(source, frozenset()):
            wrong.append(imp)
    return wrong


def cycles(edges: Iterable[tuple[str, str]]) -> list[list[str]]:
    """The strongly connected groups of more than one node (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        if a != b:
            graph.setdefault(a, set()).add(b)
            graph.setdefault(b, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        # iterative to stay clear of the recursion limit on a large tree
        work = [(node, iter(sorted(graph[node])))]
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        while work:
            current, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[current] = min(low[current], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[current])
            if low[current] == index[current]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == current:
                        break
                if len(group) > 1:
                    groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(groups)


def package_cycles(found: Iterable[Import]) -> list[list[str]]:
    return cycles((i.source.split(".")[0], i.target.split(".")[0]) for i in found)


def module_cycles(found: Iterable[Import]) -> list[list[str]]:
    """Cycles between modules of one package (a package's ``__init__`` re-exports excluded)."""
    edges = []
    for imp in found:
        if imp.source.split(".")[0] != imp.target.split(".")[0]:
            continue
        if imp.target == imp.source.rsplit(".", 1)[0] or "." not in imp.target:
            continue  # a module importing its own package's __init__
        edges.append((imp.source, imp.target))
    return cycles(edges)


@dataclass(frozen=True)
class PrivateReach:
    path: Path
    line: int
    name: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: reaches {self.name}"


def private_reaches(root: Path, packages: Iterable[str] = ALLOWED) -> list[PrivateReach]:
    """``obj._name`` on something other than ``self``/``cls`` whose class is not in this module,
    and ``from mod import _name`` across modules: reaching past another part's public face."""
    found: list[PrivateReach] = []
    for path in source_files(root, packages):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        own: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                own.add(node.name)
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id in {"self", "cls"}
            ):
                own.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                own.add(node.id)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                own.add(node.target.id)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    if alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.append(PrivateReach(path, node.lineno, alias.name))
            elif isinstance(node, ast.Attribute):
                name = node.attr
                if not name.startswith("_") or name.startswith("__") or name in PUBLIC_UNDERSCORE:
                    continue
                if isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"}:
                    continue
                if name in own:
                    continue  # a private of a class defined in this very module
                found.append(PrivateReach(path, node.lineno, name))
    return found
