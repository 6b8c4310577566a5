"""Each package follows Buildroot's house style and the image carries the agent's dependencies."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from tests.buildroot.support import REPO, TREE, expand, is_local, mk_variables, prefix

PACKAGES = sorted(p for p in (TREE / "package").iterdir() if p.is_dir())
SETUP_TYPES = {"setuptools", "setuptools-rust", "pep517", "flit", "hatch", "maturin", "poetry"}
# Buildroot packages these already: the tree selects them and must not carry its own.
UPSTREAM = {
    "python-aiomqtt",
    "python-click",
    "python-cryptography",
    "python-dateutil",
    "python-paho-mqtt",
    "python-pluggy",
    "python-pydantic",
    "python-urllib3",
    "rauc",
    "chrony",
    "nftables",
}


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_mk_defines_what_its_folder_name_requires(package: Path) -> None:
    v = mk_variables(package)
    p = prefix(package)
    required = [f"{p}_VERSION", f"{p}_SITE", f"{p}_LICENSE", f"{p}_SETUP_TYPE"]
    if not is_local(package):
        required += [f"{p}_SOURCE", f"{p}_LICENSE_FILES"]
    assert [name for name in required if not v.get(name)] == []
    assert v[f"{p}_SETUP_TYPE"] in SETUP_TYPES
    text = (package / f"{package.name}.mk").read_text()
    assert text.startswith("#" * 80 + "\n#\n# " + package.name + "\n#\n" + "#" * 80 + "\n")
    assert text.rstrip().endswith("$(eval $(python-package))")


@pytest.mark.parametrize("package", [p for p in PACKAGES if not is_local(p)], ids=lambda p: p.name)
def test_hash_covers_the_source_and_every_license_file(package: Path) -> None:
    v = mk_variables(package)
    p = prefix(package)
    hashes = {}
    for line in (package / f"{package.name}.hash").read_text().splitlines():
        if line and not line.startswith("#"):
            algo, digest, name = line.split()
            if algo == "sha256":
                assert re.fullmatch(r"[0-9a-f]{64}", digest)
                hashes[name] = digest
    source = expand(v[f"{p}_SOURCE"], v)
    assert v[f"{p}_VERSION"] in source
    assert source in hashes
    for license_file in v[f"{p}_LICENSE_FILES"].split():
        assert license_file in hashes


@pytest.mark.parametrize("package", [p for p in PACKAGES if not is_local(p)], ids=lambda p: p.name)
def test_source_comes_from_pypi(package: Path) -> None:
    site = mk_variables(package)[f"{prefix(package)}_SITE"]
    assert re.fullmatch(
        r"https://files\.pythonhosted\.org/packages/[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{60}", site
    )


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_config_in_defines_the_package_symbol(package: Path) -> None:
    config = (package / "Config.in").read_text()
    assert config.startswith(f'config BR2_PACKAGE_{prefix(package)}\n\tbool "{package.name}"\n')


def test_nothing_buildroot_already_packages_is_repackaged() -> None:
    assert {p.name for p in PACKAGES} & UPSTREAM == set()


def test_python_cellbridge_builds_this_repository_at_its_version() -> None:
    package = TREE / "package" / "python-cellbridge"
    v = mk_variables(package)
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert v["PYTHON_CELLBRIDGE_SITE"] == "$(BR2_EXTERNAL_CELLBRIDGE_PATH)/.."
    assert project["name"] == "cellbridge"
    assert v["PYTHON_CELLBRIDGE_VERSION"] == project["version"]


def requirement_symbol(requirement: str) -> str:
    name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
    return "BR2_PACKAGE_PYTHON_" + name.upper().replace("-", "_")


def test_the_image_selects_every_runtime_dependency_of_the_agent_and_the_shell() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    config = (TREE / "package" / "python-cellbridge" / "Config.in").read_text()
    selected = set(re.findall(r"select (BR2_PACKAGE_\w+)", config))
    needed = {
        requirement_symbol(r)
        for r in project["dependencies"] + project["optional-dependencies"]["device"]
    }
    assert needed - selected == set()
