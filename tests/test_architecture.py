"""The architecture as a test: dependencies point one way, no circles, no reaching past a part's
public face. The checks also run on small fixture trees, so a broken checker cannot pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import import_graph

ROOT = Path(__file__).resolve().parent.parent

# Third-party internals we must touch, each with its reason.
THIRD_PARTY_PRIVATES = {
    # Kivy has no public way to cancel a ScrollView's pending touch hand-over.
    ("device/ui/screens.py", "_get_uid"),
    ("device/ui/screens.py", "_touch"),
}


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for package in {Path(name).parts[0] for name in files}:
        (root / package / "__init__.py").touch()
    return root


@pytest.fixture(scope="module")
def project_imports() -> list[import_graph.Import]:
    return import_graph.imports(ROOT)


def test_every_package_imports_only_the_layers_below_it(project_imports):
    wrong = sorted({str(i) for i in import_graph.upward_imports(project_imports)})
    assert wrong == [], "\n".join(wrong)


def test_no_two_packages_import_each_other(project_imports):
    assert import_graph.package_cycles(project_imports) == []


def test_no_two_modules_of_a_package_import_each_other(project_imports):
    assert import_graph.module_cycles(project_imports) == []


def test_no_module_reaches_another_parts_private_names():
    found = [
        str(reach)
        for reach in import_graph.private_reaches(ROOT)
        if (str(reach.path.relative_to(ROOT)), reach.name) not in THIRD_PARTY_PRIVATES
    ]
    assert found == [], "\n".join(found)


def test_the_checker_finds_an_upward_import(tmp_path):
    root = write_tree(tmp_path, {
        "wire/topics.py": "X = 1\n",
        "common/files.py": "from agent.store import Store\n",
        "agent/store.py": "from wire.topics import X\nclass Store: ...\n",
    })
    wrong = import_graph.upward_imports(import_graph.imports(root))
    assert [(i.source, i.target, i.line) for i in wrong] == [("common.files", "agent.store", 1)]


def test_the_checker_finds_a_sideways_import_hidden_in_a_function(tmp_path):
    root = write_tree(tmp_path, {
        "gateway/cli.py": "def run():\n    import provisioning.pki\n",
        "provisioning/pki.py": "",
    })
    wrong = import_graph.upward_imports(import_graph.imports(root))
    assert [(i.source, i.target) for i in wrong] == [("gateway.cli", "provisioning.pki")]


def test_the_checker_finds_a_circle_between_modules(tmp_path):
    root = write_tree(tmp_path, {
        "gateway/service.py": "from gateway.requests import Desk\n",
        "gateway/requests.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from gateway.service import Service\n"
            "class Desk: ...\n"
        ),
        "gateway/store.py": "",
    })
    cycles = import_graph.module_cycles(import_graph.imports(root))
    assert cycles == [["gateway.requests", "gateway.service"]]


def test_the_checker_finds_a_circle_through_relative_imports(tmp_path):
    root = write_tree(tmp_path, {
        "agent/a.py": "from . import b\n",
        "agent/b.py": "from .a import thing\n",
    })
    assert import_graph.module_cycles(import_graph.imports(root)) == [["agent.a", "agent.b"]]


def test_the_checker_finds_a_private_reach(tmp_path):
    root = write_tree(tmp_path, {
        "gateway/policy.py": (
            "from gateway.service import _helper\n"
            "def f(service):\n    service._publish()\n"
        ),
        "gateway/service.py": "def _helper(): ...\n",
    })
    found = {(r.path.name, r.name) for r in import_graph.private_reaches(root)}
    assert found == {("policy.py", "_helper"), ("policy.py", "_publish")}


def test_the_checker_allows_a_class_its_own_privates(tmp_path):
    root = write_tree(tmp_path, {
        "agent/lock.py": (
            "class Lock:\n"
            "    def __init__(self):\n        self._held = False\n"
            "    def same(self, other):\n        return other._held == self._held\n"
        ),
    })
    assert import_graph.private_reaches(root) == []


def test_the_gateway_service_only_composes_and_no_gateway_module_grows_past_400_lines():
    sizes = {path.relative_to(ROOT).as_posix(): len(path.read_text().splitlines())
             for path in (ROOT / "gateway").rglob("*.py")}
    assert sizes["gateway/service.py"] < 250
    assert {name: n for name, n in sizes.items() if n > 400} == {}
