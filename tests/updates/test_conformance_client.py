"""The TUF conformance suite's client-under-test (scripts/tuf-conformance-client) against our
own repository: init from the image's root, refresh, download a real release, keep it cached,
refuse substituted bytes. The suite itself runs outside `make test` (docs/tuf-conformance.md)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib import parse

from tuf.api.metadata import Metadata

from tests.updates.conftest import Wing

CLIENT = Path(__file__).resolve().parents[2] / "scripts" / "tuf-conformance-client"


def run(wing: Wing, metadata_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The client as the suite runs it: one executable, the protocol's options, then a command."""
    env = {**os.environ, "CELLBRIDGE_PYTHON": sys.executable}
    return subprocess.run(
        [str(CLIENT), "--metadata-dir", str(metadata_dir), "--metadata-url",
         f"{wing.url}/metadata/", "--ca-file", str(wing.tls.ca), *args],
        env=env, capture_output=True, text=True, timeout=60, check=False)


def download(wing: Wing, metadata_dir: Path, target_dir: Path, target: str,
             ) -> subprocess.CompletedProcess[str]:
    return run(wing, metadata_dir, "--target-name", target, "--target-base-url",
               f"{wing.url}/targets/", "--target-dir", str(target_dir), "download")


def target_gets(wing: Wing, target: str) -> int:
    return sum(path == f"/targets/{target}" for path, _ in wing.hostile.requests)


def test_init_refresh_and_download_a_release(wing: Wing, tmp_path: Path) -> None:
    target = wing.release("1.1.0")
    metadata_dir, target_dir = tmp_path / "metadata", tmp_path / "targets"
    metadata_dir.mkdir()
    target_dir.mkdir()

    init = run(wing, metadata_dir, "init", str(wing.image_root))
    assert init.returncode == 0, init.stderr
    assert wing.hostile.requests == []  # init asks the repository nothing

    refreshed = run(wing, metadata_dir, "refresh")
    assert refreshed.returncode == 0, refreshed.stderr
    for role in ("root", "timestamp", "snapshot", "targets"):
        trusted = Metadata.from_file(str(metadata_dir / f"{role}.json")).signed
        served = Metadata.from_file(str(wing.repo_dir / "metadata" / f"{role}.json")).signed
        assert trusted.version == served.version, role

    fetched = download(wing, metadata_dir, target_dir, target)
    assert fetched.returncode == 0, fetched.stderr
    signed = (wing.repo_dir / "targets" / target).read_bytes()
    assert [p.name for p in target_dir.iterdir()] == [parse.quote(target, "")]
    assert (target_dir / parse.quote(target, "")).read_bytes() == signed
    assert target_gets(wing, target) == 1

    again = download(wing, metadata_dir, target_dir, target)
    assert again.returncode == 0, again.stderr
    assert target_gets(wing, target) == 1  # kept: it still matches the signed hashes


def test_substituted_bytes_and_unknown_targets_fail(wing: Wing, tmp_path: Path) -> None:
    target = wing.release("1.1.0")
    metadata_dir, target_dir = tmp_path / "metadata", tmp_path / "targets"
    metadata_dir.mkdir()
    target_dir.mkdir()
    served = wing.repo_dir / "targets" / target
    served.write_bytes(bytes(len(served.read_bytes())))  # same length, other bytes
    assert run(wing, metadata_dir, "init", str(wing.image_root)).returncode == 0

    substituted = download(wing, metadata_dir, target_dir, target)
    assert substituted.returncode == 1
    assert "does not match" in substituted.stderr
    unknown = download(wing, metadata_dir, target_dir, "os/cellbridge-os-9.9.9.raucb")
    assert unknown.returncode == 1
    assert "no signed target" in unknown.stderr
    assert list(target_dir.iterdir()) == []  # nothing unverified is left for anyone to use
