"""The app installer's decisions and the appfs image's member check, alone (no I/O), and the
folder swap and its recovery on real files."""

from __future__ import annotations

import errno
import os
import tarfile
from pathlib import Path

import pytest

from agent.apps import AppCheck
from agent.updates.app_install import STAGING_PREFIX, AppInstallConfig, AppInstaller
from agent.updates.app_plan import (
    AppState,
    AppStatus,
    reports,
    statuses_after_policy,
    to_install,
)
from agent.updates.app_service import AppInstallService
from common import files
from common.files import replace_dir
from tests.updates.app_support import pins
from wire.appfs import MAX_MEMBERS, HostileImage, check_members
from wire.documents import MAX_APP_REPORTS

# ------------------------------------------------------------------ which apps, which state


def test_only_pinned_apps_whose_build_does_not_verify_are_installed() -> None:
    pins = {"music": "1.0.0", "education": "3.2.0", "games": "0.9.0"}
    verified = {"music": True, "education": False, "radio": False}
    assert to_install(pins, verified) == ["education", "games"]


@pytest.mark.parametrize(("previous", "pinned", "verified", "expected"), [
    (None, "1.0", True, AppState.INSTALLED),
    (None, "1.0", False, AppState.PENDING),
    (AppState.FAILED, "1.0", False, AppState.FAILED),
    (AppState.REFUSED, "1.0", False, AppState.REFUSED),
    (AppState.REFUSED, "1.1", False, AppState.PENDING),  # a new pin: a fresh start
    (AppState.REFUSED, "1.0", True, AppState.INSTALLED),
    (AppState.INSTALLED, "1.0", False, AppState.PENDING),  # changed on disk since
], ids=["installed", "missing", "failed-kept", "refused-kept", "new-pin", "now-ok", "changed"])
def test_each_pinned_apps_state_after_a_policy(
    previous: AppState | None, pinned: str, verified: bool, expected: AppState
) -> None:
    current = {} if previous is None else {"music": AppStatus("music", "1.0", previous, "why")}
    result = statuses_after_policy(current, {"music": pinned}, {"music": verified})
    assert result["music"].state == expected
    assert result["music"].version == pinned


def test_apps_no_longer_pinned_are_forgotten() -> None:
    current = {"radio": AppStatus("radio", "1.0", AppState.FAILED, "offline")}
    assert statuses_after_policy(current, {}, {}) == {}


def test_the_report_lists_apps_not_installed_by_id_and_is_bounded() -> None:
    statuses = [AppStatus(f"app{i:02d}", "1.0", AppState.FAILED, "x" * 1000) for i in range(40)]
    statuses.append(AppStatus("aaa", "1.0", AppState.INSTALLED))
    rows = reports(statuses)
    assert len(rows) == MAX_APP_REPORTS
    assert [r.app for r in rows] == [f"app{i:02d}" for i in range(MAX_APP_REPORTS)]
    assert all(len(r.error) == 200 and r.state == "failed" for r in rows)


def test_nothing_is_reported_when_every_pinned_build_is_installed() -> None:
    assert reports([AppStatus("music", "1.0", AppState.INSTALLED)]) == ()


# ------------------------------------------------------------------ appfs member check


def member(name: str, kind: bytes = tarfile.REGTYPE, size: int = 1) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    return info


MANIFEST = member("manifest.json")


@pytest.mark.parametrize(("members", "problem"), [
    ([MANIFEST, member("/etc/passwd")], "not a plain relative path"),
    ([MANIFEST, member("bin", tarfile.DIRTYPE), member("bin/../../x")], "not a plain relative"),
    ([MANIFEST, member("./run")], "not a plain relative path"),
    ([MANIFEST, member("a\\b")], "not a plain relative path"),
    ([MANIFEST, member("run\nx")], "not a plain relative path"),
    ([MANIFEST, member("run", tarfile.SYMTYPE)], "not a regular file or folder"),
    ([MANIFEST, member("run", tarfile.LNKTYPE)], "not a regular file or folder"),
    ([MANIFEST, member("run", tarfile.FIFOTYPE)], "not a regular file or folder"),
    ([MANIFEST, member("run", tarfile.BLKTYPE)], "not a regular file or folder"),
    ([MANIFEST, member("run"), member("run")], "appears twice"),
    ([MANIFEST, member("bin/run")], "has no folder entry"),
    ([member("run")], "no manifest.json"),
    ([MANIFEST, member("big", size=11)], "more than 10 bytes"),
], ids=["absolute", "dotdot", "dot", "backslash", "newline", "symlink", "hardlink", "fifo",
        "device", "duplicate", "no-folder", "no-manifest", "too-big"])
def test_a_hostile_member_list_is_refused(members: list[tarfile.TarInfo], problem: str) -> None:
    with pytest.raises(HostileImage, match=problem):
        check_members(members, max_bytes=10)


def test_too_many_members_are_refused() -> None:
    members = [MANIFEST, *(member(f"f{i}", size=0) for i in range(MAX_MEMBERS))]
    with pytest.raises(HostileImage, match="more than"):
        check_members(members)


def test_plain_files_and_folders_pass() -> None:
    check_members([MANIFEST, member("bin", tarfile.DIRTYPE), member("bin/run"), member("data")])


# ------------------------------------------------------------------ the swap, on real files


def build(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "file").write_text(text)
    return folder


def test_a_folder_replaces_another_in_one_step_and_the_old_one_is_handed_back(
    tmp_path: Path
) -> None:
    build(tmp_path / "app", "old")
    build(tmp_path / "staging" / "app", "new")

    old = replace_dir(tmp_path / "staging" / "app", tmp_path / "app", tmp_path / "retired")

    assert (tmp_path / "app" / "file").read_text() == "new"
    assert old is not None and (old / "file").read_text() == "old"


def test_a_folder_takes_an_empty_place(tmp_path: Path) -> None:
    build(tmp_path / "staging" / "app", "new")
    assert replace_dir(tmp_path / "staging" / "app", tmp_path / "app", tmp_path / "r") is None
    assert (tmp_path / "app" / "file").read_text() == "new"


def test_a_swap_that_fails_after_setting_the_old_folder_aside_puts_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """File systems without an atomic exchange, and moving the new folder in fails (an I/O
    error): the old folder is at its place again when the error reaches the caller, who then
    removes its staging folder."""
    build(tmp_path / "app", "old")
    build(tmp_path / "staging" / "app", "new")
    monkeypatch.setattr(files, "_exchange", lambda new, path: False)
    real_rename = os.rename

    def rename(source: object, target: object) -> None:
        if Path(str(source)) == tmp_path / "staging" / "app":
            raise OSError(errno.EIO, "I/O error")
        real_rename(source, target)  # type: ignore[arg-type]

    monkeypatch.setattr(files.os, "rename", rename)

    with pytest.raises(OSError, match="I/O error"):
        replace_dir(tmp_path / "staging" / "app", tmp_path / "app", tmp_path / "retired")

    assert (tmp_path / "app" / "file").read_text() == "old"
    assert not (tmp_path / "retired").exists()


def installer_for(apps_dir: Path, work_dir: Path) -> AppInstaller:
    config = AppInstallConfig(apps_dir=apps_dir, work_dir=work_dir, compatible="x",
                              keyring=Path("/nonexistent"))
    return AppInstaller(config, None, None, lambda: None, lambda *a: None)  # type: ignore[arg-type]


def test_after_a_cut_between_two_renames_the_previous_build_is_put_back(tmp_path: Path) -> None:
    """File systems without an atomic exchange: the old build was set aside, the new one not
    yet moved in."""
    apps = tmp_path / "apps"
    build(apps / f"{STAGING_PREFIX}music" / "retired", "old")
    build(apps / f"{STAGING_PREFIX}music" / "music", "new")

    installer_for(apps, tmp_path / "work").recover()

    assert [p.name for p in apps.iterdir()] == ["music"]
    assert (apps / "music" / "file").read_text() == "old"


def test_recovery_drops_unfinished_staging_and_keeps_installed_builds(tmp_path: Path) -> None:
    apps = tmp_path / "apps"
    build(apps / "music", "installed")
    build(apps / f"{STAGING_PREFIX}music" / "music", "half")
    build(tmp_path / "work" / "extract", "content")

    installer_for(apps, tmp_path / "work").recover()

    assert [p.name for p in apps.iterdir()] == ["music"]
    assert (apps / "music" / "file").read_text() == "installed"
    assert not (tmp_path / "work" / "extract").exists()


def test_every_pinned_app_without_a_build_is_not_installed_not_only_the_reported_ones(
    tmp_path: Path
) -> None:
    """The shell greys out the tiles of all of them; the report to the gateway is capped."""
    many = {f"app{n:02d}": "1.0.0" for n in range(MAX_APP_REPORTS + 4)}
    config = AppInstallConfig(apps_dir=tmp_path / "apps", work_dir=tmp_path / "work",
                              compatible="x", keyring=Path("/nonexistent"))
    installer = AppInstaller(config, None, None, lambda: None,  # type: ignore[arg-type]
                             lambda *a: AppCheck(ok=False, reason="not installed"))
    service = AppInstallService(installer, on_change=lambda: None)

    installer.run(pins(**many))

    assert service.not_installed() == set(many)
    assert len(service.reports()) == MAX_APP_REPORTS
