"""The tree's Kconfig parses, and the defconfigs set only symbols that exist."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import kconfiglib
import pytest

from tests.buildroot.support import BOARDS, TREE, defconfig, parse_config

PACKAGES = sorted(p.name for p in (TREE / "package").iterdir() if p.is_dir())


def package_symbol(folder: str) -> str:
    return "BR2_PACKAGE_" + folder.upper().replace("-", "_")


@pytest.fixture(scope="module")
def kconf(tmp_path_factory: pytest.TempPathFactory) -> kconfiglib.Kconfig:
    top = tmp_path_factory.mktemp("kconfig") / "Kconfig"
    top.write_text(
        'mainmenu "Cellbridge BR2_EXTERNAL"\nsource "$BR2_EXTERNAL_CELLBRIDGE_PATH/Config.in"\n'
    )
    old = os.environ.get("BR2_EXTERNAL_CELLBRIDGE_PATH")
    os.environ["BR2_EXTERNAL_CELLBRIDGE_PATH"] = str(TREE)
    try:
        # Buildroot's own symbols are undefined here: warnings, not errors.
        return kconfiglib.Kconfig(str(top), warn_to_stderr=False)
    finally:
        if old is None:
            del os.environ["BR2_EXTERNAL_CELLBRIDGE_PATH"]
        else:
            os.environ["BR2_EXTERNAL_CELLBRIDGE_PATH"] = old


def tree_symbols(kconf: kconfiglib.Kconfig) -> set[str]:
    """Symbols this tree defines (as opposed to ones it only references)."""
    return {sym.name for sym in kconf.unique_defined_syms}


def belongs_to_tree(symbol: str) -> bool:
    """BR2_CELLBRIDGE_* and BR2_PACKAGE_<a package of this tree>[_OPTION]."""
    if symbol.startswith("BR2_CELLBRIDGE_"):
        return True
    return any(
        symbol == package_symbol(p) or symbol.startswith(package_symbol(p) + "_") for p in PACKAGES
    )


def test_the_tree_kconfig_parses_and_defines_every_package(kconf: kconfiglib.Kconfig) -> None:
    defined = tree_symbols(kconf)
    missing = [package_symbol(p) for p in PACKAGES if package_symbol(p) not in defined]
    assert missing == []


def test_every_package_config_in_is_sourced_from_the_top_config_in() -> None:
    top = (TREE / "Config.in").read_text()
    sourced = set(
        re.findall(r'source "\$BR2_EXTERNAL_CELLBRIDGE_PATH/package/([^/]+)/Config.in"', top)
    )
    assert sourced == set(PACKAGES)


def test_deployment_is_a_choice_between_development_and_release(kconf: kconfiglib.Kconfig) -> None:
    choices = [
        c
        for c in kconf.unique_choices
        if c.nodes[0].prompt and c.nodes[0].prompt[0] == "Deployment"
    ]
    assert len(choices) == 1
    assert sorted(s.name for s in choices[0].syms) == [
        "BR2_CELLBRIDGE_DEPLOYMENT_DEVELOPMENT",
        "BR2_CELLBRIDGE_DEPLOYMENT_RELEASE",
    ]


CONFIG_FILES = [defconfig(b) for b in sorted(BOARDS)] + [
    TREE / "board" / "common" / "release.fragment"
]


@pytest.mark.parametrize("config", CONFIG_FILES, ids=lambda p: p.name)
def test_every_symbol_of_this_tree_a_config_file_sets_is_defined(
    kconf: kconfiglib.Kconfig, config: Path
) -> None:
    ours = [s for s in parse_config(config.read_text()) if belongs_to_tree(s)]
    assert ours, "sets none of this tree's symbols"
    undefined = [s for s in ours if s not in tree_symbols(kconf)]
    assert undefined == []


@pytest.mark.parametrize("board", sorted(BOARDS))
def test_defconfig_paths_into_this_tree_exist(board: str) -> None:
    text = defconfig(board).read_text()
    paths = re.findall(r"\$\(BR2_EXTERNAL_CELLBRIDGE_PATH\)(/[^\s\"]+)", text)
    assert paths
    missing = [p for p in paths if not (TREE / p.lstrip("/")).exists()]
    assert missing == []


# With a Buildroot checkout (CELLBRIDGE_BUILDROOT=DIR), the real `make <defconfig>`
# must keep every line of each defconfig: a dropped line is an unmet dependency.
BUILDROOT = os.environ.get("CELLBRIDGE_BUILDROOT", "")


@pytest.mark.skipif(
    not (BUILDROOT and Path(BUILDROOT, "Makefile").is_file()),
    reason="set CELLBRIDGE_BUILDROOT to a Buildroot checkout",
)
@pytest.mark.parametrize("board", sorted(BOARDS))
def test_buildroot_keeps_every_defconfig_line(board: str, tmp_path: Path) -> None:
    subprocess.run(
        ["make", "-s", "-C", BUILDROOT, f"O={tmp_path}", f"BR2_EXTERNAL={TREE}", BOARDS[board]],
        check=True,
        capture_output=True,
        text=True,
    )
    wanted = parse_config(defconfig(board).read_text())
    got = parse_config((tmp_path / ".config").read_text())
    dropped = {
        k: (v, got.get(k, "<absent>")) for k, v in wanted.items() if got.get(k, "<absent>") != v
    }
    assert dropped == {}
