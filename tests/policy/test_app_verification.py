"""An app runs only as signed: its manifest, its pinned version, and every file on disk."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agent.apps import AppCheck, verify_app
from tests.policy.samples import EXPIRES, OTHER_KEY, TRUSTED, install_app, policy
from wire.manifest import MANIFEST_NAME

NOW = EXPIRES - 86_400_000
POLICY = policy()


def check(apps_dir: Path, app: str = "education", audience: str = "wing:A") -> AppCheck:
    return verify_app(
        apps_dir, app, policy=POLICY, trusted_keys=TRUSTED, audience=audience, now_ms=NOW
    )


def test_a_signed_unchanged_app_is_verified_with_its_command_line(tmp_path: Path) -> None:
    folder = install_app(tmp_path, "education")
    result = check(tmp_path)
    assert (result.ok, result.argv) == (True, (str((folder / "bin" / "run").resolve()),))


def test_a_file_changed_after_signing_is_refused(tmp_path: Path) -> None:
    folder = install_app(tmp_path, "education")
    (folder / "data.txt").write_text("changed\n")
    assert check(tmp_path) == AppCheck(False, "file data.txt changed since it was signed")


def test_a_changed_entry_point_is_refused(tmp_path: Path) -> None:
    folder = install_app(tmp_path, "education")
    (folder / "bin" / "run").write_text("#!/bin/sh\nexec /bin/sh\n")
    assert check(tmp_path).reason == "file bin/run changed since it was signed"


def test_an_unlisted_binary_is_refused(tmp_path: Path) -> None:
    folder = install_app(tmp_path, "education")
    (folder / "bin" / "sh").write_bytes(b"\x7fELF")
    assert check(tmp_path).reason == "unlisted file bin/sh"


def test_a_symlink_in_the_app_is_refused(tmp_path: Path) -> None:
    folder = install_app(tmp_path, "education")
    os.symlink("/bin/sh", folder / "bin" / "shell")
    assert check(tmp_path).reason == "app folder refused: bin/shell is not a regular file"


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    folder = install_app(tmp_path, "education")
    (folder / "data.txt").unlink()
    assert check(tmp_path).reason == "missing file data.txt"


def test_an_unsigned_manifest_is_refused(tmp_path: Path) -> None:
    folder = install_app(tmp_path, "education")
    envelope = json.loads((folder / MANIFEST_NAME).read_text())
    envelope["sig"] = ""
    (folder / MANIFEST_NAME).write_text(json.dumps(envelope))
    assert check(tmp_path).reason.startswith("manifest refused: bad_signature")


def test_a_manifest_signed_by_another_key_is_refused(tmp_path: Path) -> None:
    install_app(tmp_path, "education", key=OTHER_KEY)
    assert check(tmp_path).reason.startswith("manifest refused: unknown_key")


def test_a_manifest_for_another_wing_is_refused(tmp_path: Path) -> None:
    install_app(tmp_path, "education", wing="B")
    assert check(tmp_path).reason.startswith("manifest refused: wrong_audience")


def test_an_older_build_than_the_policy_pins_is_refused(tmp_path: Path) -> None:
    install_app(tmp_path, "education", version="3.1.9")
    assert check(tmp_path).reason == "version 3.1.9 is not the allowed 3.2.0"


def test_another_apps_manifest_is_refused(tmp_path: Path) -> None:
    install_app(tmp_path, "games")
    (tmp_path / "education").mkdir()
    (tmp_path / "education" / MANIFEST_NAME).write_bytes(
        (tmp_path / "games" / MANIFEST_NAME).read_bytes()
    )
    assert check(tmp_path).reason == "manifest is for 'games'"


def test_an_app_without_a_manifest_is_refused(tmp_path: Path) -> None:
    (tmp_path / "education").mkdir()
    assert check(tmp_path).reason.startswith("no readable manifest")


@pytest.mark.parametrize("app", ["casino", "../education", "Education", ""])
def test_an_app_outside_the_allow_list_is_refused(tmp_path: Path, app: str) -> None:
    install_app(tmp_path, "education")
    assert not check(tmp_path, app).ok
