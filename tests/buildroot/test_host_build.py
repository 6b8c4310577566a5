"""`make image-check`: every Python package of the tree builds the way Buildroot builds it.

Each sdist (checked against its .hash) is patched and built with `python -m build -n -w` plus the
package's BUILD_OPTS, in a throwaway venv holding exactly the host build tools of the pinned
Buildroot release (host-python-tools.txt), fetched from PyPI. python-cellbridge is this repository.
Kivy compiles C (minutes, SDL2/GLES headers needed): it runs with CELLBRIDGE_IMAGE_CHECK_KIVY=1.
With CELLBRIDGE_BUILDROOT=<checkout> the pins are checked against that checkout's packages too.
"""

from __future__ import annotations

import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest

from tests.buildroot import sources
from tests.buildroot.support import REPO, TREE, is_local, mk_variables, prefix

PACKAGES = sorted(p for p in (TREE / "package").iterdir() if p.is_dir())
SLOW = {"python-kivy"}
BUILDROOT = os.environ.get("CELLBRIDGE_BUILDROOT")


@pytest.fixture(scope="module")
def host_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return sources.make_host_tools_venv(tmp_path_factory.mktemp("host-tools"))


def build_options(package: Path) -> list[str]:
    return mk_variables(package).get(f"{prefix(package)}_BUILD_OPTS", "").split()


def environment(package: Path) -> dict[str, str]:
    """The package's <PKG>_ENV assignments that make sense on this host (no cross sysroot)."""
    value = mk_variables(package).get(f"{prefix(package)}_ENV", "")
    pairs = dict(re.findall(r"(\w+)=(\S+)", value))
    return {k: v for k, v in pairs.items() if "$(" not in v and k != "KIVY_CROSS_PLATFORM"}


@pytest.mark.timeout(900)
@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_the_package_builds_with_buildroots_host_tools(
    package: Path, host_python: Path, tmp_path: Path
) -> None:
    if package.name in SLOW and os.environ.get("CELLBRIDGE_IMAGE_CHECK_KIVY") != "1":
        pytest.skip("Kivy compiles for minutes: CELLBRIDGE_IMAGE_CHECK_KIVY=1 (make image-check-kivy)")
    if is_local(package):
        source = sources.copy_repository(REPO, tmp_path)
    else:
        source = sources.extract_patched(package, tmp_path / "src")
    env_before = dict(os.environ)
    os.environ.update(environment(package))
    try:
        result = sources.build_wheel(host_python, source, build_options(package), tmp_path / "out")
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    (wheel,) = (tmp_path / "out").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert any(n.endswith(".py") for n in names)
    if package.name == "python-kivy":
        gl = [n for n in names if "/cgl_gl." in n and n.endswith(".so")]
        assert gl, "no OpenGL backend built"
        (tmp_path / "gl.so").write_bytes(zipfile.ZipFile(wheel).read(gl[0]))
        needed = subprocess.run(
            ["readelf", "-d", str(tmp_path / "gl.so")], capture_output=True, text=True, check=True
        ).stdout
        assert "libGLESv2" in needed and "libGL.so" not in needed
        assert any("_window_sdl2." in n for n in names), "no SDL2 window provider"


@pytest.mark.skipif(not BUILDROOT, reason="CELLBRIDGE_BUILDROOT=<Buildroot checkout> not given")
def test_the_host_tool_pins_are_the_pinned_buildroot_releases() -> None:
    checkout = Path(str(BUILDROOT))
    for name, (version, br_package) in sources.host_tool_pins().items():
        mk = (checkout / "package" / br_package / f"{br_package}.mk").read_text()
        found = re.search(r"^\w+_VERSION = (\S+)$", mk, re.M)
        assert found and found.group(1) == version, (name, version, br_package)


@pytest.mark.skipif(not BUILDROOT, reason="CELLBRIDGE_BUILDROOT=<Buildroot checkout> not given")
def test_the_checkout_is_the_pinned_release() -> None:
    head = subprocess.run(
        ["git", "-C", str(BUILDROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert head == sources.pinned_release()["BUILDROOT_COMMIT"]


@pytest.mark.skipif(not BUILDROOT, reason="CELLBRIDGE_BUILDROOT=<Buildroot checkout> not given")
@pytest.mark.timeout(300)
def test_buildroots_check_package_passes_over_the_tree() -> None:
    files = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "buildroot"], capture_output=True, text=True, check=True
    ).stdout.split()
    files += [
        str(p.relative_to(REPO)) for p in (TREE / "package").rglob("*")
        if p.is_file() and str(p.relative_to(REPO)) not in files
    ]
    result = subprocess.run(
        ["/usr/bin/python3", "utils/check-package", "--br2-external", *[str(REPO / f) for f in files]],
        cwd=str(BUILDROOT), capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 warnings generated" in result.stdout + result.stderr
