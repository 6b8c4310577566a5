"""What Buildroot would download and build for each Python package of the tree, done the same way here.

Sources are cached under ~/.cache/cellbridge/buildroot-dl (CELLBRIDGE_CACHE moves it) and checked
against the package's .hash exactly as Buildroot checks them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
import urllib.request
from pathlib import Path

from tests.buildroot.support import TREE, expand, mk_variables, prefix

HOST_TOOLS = TREE / "host-python-tools.txt"
VERSION_FILE = TREE / "buildroot.version"


def cache_dir(name: str) -> Path:
    root = Path(os.environ.get("CELLBRIDGE_CACHE", Path.home() / ".cache" / "cellbridge"))
    path = root / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def host_tool_pins() -> dict[str, tuple[str, str]]:
    """pip name -> (version, the Buildroot package it mirrors), from host-python-tools.txt."""
    pins: dict[str, tuple[str, str]] = {}
    for line in HOST_TOOLS.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        requirement, package = line.split()
        name, _, version = requirement.partition("==")
        pins[name] = (version, package)
    return pins


def pinned_release() -> dict[str, str]:
    """BUILDROOT_RELEASE and BUILDROOT_COMMIT from buildroot.version."""
    values = {}
    for line in VERSION_FILE.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def sha256_of(package: Path, filename: str) -> str:
    for line in (package / f"{package.name}.hash").read_text().splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "sha256" and parts[2] == filename:
            return parts[1]
    raise AssertionError(f"{package.name}.hash has no sha256 for {filename}")


def fetch_source(package: Path) -> Path:
    """The package's source tarball, downloaded once and checked against its .hash."""
    v = mk_variables(package)
    p = prefix(package)
    source = expand(v[f"{p}_SOURCE"], v)
    target = cache_dir("buildroot-dl") / source
    expected = sha256_of(package, source)
    if not target.exists() or hashlib.sha256(target.read_bytes()).hexdigest() != expected:
        partial = target.with_name(f"{target.name}.{os.getpid()}.part")  # one per process
        with urllib.request.urlopen(f"{v[f'{p}_SITE']}/{source}", timeout=60) as response:
            partial.write_bytes(response.read())
        digest = hashlib.sha256(partial.read_bytes()).hexdigest()
        assert digest == expected, f"{source}: sha256 {digest}, the .hash says {expected}"
        partial.replace(target)
    return target


def extract_patched(package: Path, into: Path) -> Path:
    """Unpack the source and apply the package's patches in order, as Buildroot does."""
    with tarfile.open(fetch_source(package)) as archive:
        archive.extractall(into, filter="data")
    (source_dir,) = [d for d in into.iterdir() if d.is_dir()]
    for patch in sorted(package.glob("*.patch")):
        subprocess.run(
            ["patch", "-p1", "--no-backup-if-mismatch", "-i", str(patch)],
            cwd=source_dir,
            check=True,
            capture_output=True,
        )
    return source_dir


def make_host_tools_venv(where: Path) -> Path:
    """A throwaway venv holding exactly Buildroot's pinned host build tools; returns its python."""
    subprocess.run(["python3", "-m", "venv", str(where)], check=True)
    python = where / "bin" / "python"
    pins = [f"{name}=={version}" for name, (version, _) in host_tool_pins().items()]
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--no-deps", "--disable-pip-version-check", *pins],
        check=True,
        env={**os.environ, "PIP_CACHE_DIR": str(cache_dir("pip"))},
    )
    return python


def build_wheel(python: Path, source_dir: Path, options: list[str], out: Path) -> subprocess.CompletedProcess[str]:
    """Buildroot's PEP 517 build command (`-m build -n -w` plus the package's BUILD_OPTS)."""
    return subprocess.run(
        [str(python), "-m", "build", "-n", "-w", *options, "--outdir", str(out), "."],
        cwd=source_dir,
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )


def copy_repository(repo: Path, into: Path) -> Path:
    """The repository's Python sources, as python-cellbridge's rsync exclusions leave them."""
    ignore = shutil.ignore_patterns(
        ".venv", "buildroot", "output", "tests", "bench", "build", "demo", ".demo", "*.egg-info",
        ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis", "__pycache__", ".git",
    )
    target = into / "cellbridge"
    shutil.copytree(repo, target, ignore=ignore)
    return target
