"""App installs from the wing gateway's TUF repository: real `rauc bundle`/`info`/`extract`, the
real repository server over HTTPS, real files. A tablet installs exactly the app builds its wing
policy pins, refuses every bad release with its previous build untouched and still runnable, and
survives a kill -9 anywhere in an install."""

from __future__ import annotations

import datetime
import os
import random
import re
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.updates.app_install import NO_TRUSTED_TIME
from agent.updates.app_plan import AppState
from common import appfs
from provisioning.release import build_rauc_bundle, check_app_folder
from provisioning.release_keys import ReleaseError, make_release_ca
from tests.policy import samples
from tests.updates.app_support import fingerprint, installer, make_app, pins, verify
from tests.updates.conftest import Wing
from tests.updates.support import COMPATIBLE, Tablet
from wire.tuf_layout import ReleaseMeta, app_target_path

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def apps_dir(tmp_path: Path) -> Path:
    path = tmp_path / "apps"
    path.mkdir()
    return path


def release(wing: Wing, app: str, version: str, **app_options: object) -> Path:
    folder = make_app(wing.estate.dir / "src" / f"{app}-{version}", app, version,
                      **app_options)  # type: ignore[arg-type]
    wing.estate.release_app(app, folder, version, COMPATIBLE)
    wing.publish()
    return folder


def release_image(wing: Wing, app: str, version: str, image: Path) -> None:
    """Release an appfs image as it is (what a compromised or careless build pipeline made)."""
    wing.estate.release_app(app, image, version, COMPATIBLE)
    wing.publish()


def fetched(wing: Wing, app: str, version: str) -> int:
    path = f"/targets/{app_target_path(app, version)}"
    return len([p for p, _ in wing.hostile.requests if p == path])


def installed_education(wing: Wing, tablet: Tablet, apps_dir: Path) -> dict[str, str]:
    """Education 1.0.0, installed through the real path; returns its fingerprint."""
    release(wing, "education", "1.0.0")
    assert installer(tablet, apps_dir).run(pins(education="1.0.0")) is False
    assert verify(apps_dir, "education", pins(education="1.0.0")).ok
    return fingerprint(apps_dir)


# ------------------------------------------------------------------ what is installed


def test_a_pinned_app_is_installed_and_then_passes_the_launch_check(
    wing: Wing, tablet: Tablet, apps_dir: Path
) -> None:
    source = release(wing, "education", "1.0.0")
    subject = installer(tablet, apps_dir)

    assert subject.run(pins(education="1.0.0")) is False

    check = verify(apps_dir, "education", pins(education="1.0.0"))
    assert check.ok, check.reason
    assert check.argv == (str((apps_dir / "education" / "bin" / "run").resolve()),)
    assert fingerprint(apps_dir / "education") == fingerprint(source)
    assert subject.statuses()["education"].state == AppState.INSTALLED
    assert sorted(os.listdir(apps_dir)) == ["education"]  # no staging left behind
    assert not (tablet.config.work_dir / "apps" / "download").exists()


def test_a_newly_pinned_version_replaces_the_installed_one(
    wing: Wing, tablet: Tablet, apps_dir: Path
) -> None:
    installed_education(wing, tablet, apps_dir)
    source = release(wing, "education", "1.1.0")

    assert installer(tablet, apps_dir).run(pins(education="1.1.0")) is False

    assert verify(apps_dir, "education", pins(education="1.1.0")).ok
    assert not verify(apps_dir, "education", pins(education="1.0.0")).ok
    assert fingerprint(apps_dir / "education") == fingerprint(source)
    assert sorted(os.listdir(apps_dir)) == ["education"]


def test_an_installed_build_that_verifies_is_not_fetched_again(
    wing: Wing, tablet: Tablet, apps_dir: Path
) -> None:
    installed_education(wing, tablet, apps_dir)
    assert installer(tablet, apps_dir).run(pins(education="1.0.0")) is False
    assert fetched(wing, "education", "1.0.0") == 1


def test_an_installed_build_that_was_changed_on_disk_is_installed_again(
    wing: Wing, tablet: Tablet, apps_dir: Path
) -> None:
    before = installed_education(wing, tablet, apps_dir)
    (apps_dir / "education" / "bin" / "run").write_text("#!/bin/sh\nrm -rf /\n")

    assert installer(tablet, apps_dir).run(pins(education="1.0.0")) is False

    assert fingerprint(apps_dir) == before


def test_an_app_the_policy_does_not_pin_is_not_fetched(
    wing: Wing, tablet: Tablet, apps_dir: Path
) -> None:
    release(wing, "radio", "1.0.0")
    release(wing, "education", "1.0.0")

    assert installer(tablet, apps_dir).run(pins(education="1.0.0")) is False

    assert fetched(wing, "radio", "1.0.0") == 0
    assert sorted(os.listdir(apps_dir)) == ["education"]


# ------------------------------------------------------------------ bad releases


def tamper(wing: Wing) -> None:
    release(wing, "education", "1.1.0")
    bundle = wing.repo_dir / "targets" / app_target_path("education", "1.1.0")
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bundle.write_bytes(bytes(data))


def wrong_compatible(wing: Wing) -> None:
    folder = make_app(wing.estate.dir / "src" / "other", "education", "1.1.0")
    wing.estate.release_app("education", folder, "1.1.0", "another-tablet")
    wing.publish()


def another_apps_bundle(wing: Wing) -> None:
    """TUF signs, at education's path, a release that says it is the radio app."""
    folder = make_app(wing.estate.dir / "src" / "radio", "radio", "1.1.0")
    image = appfs.pack(folder, wing.estate.dir / "radio.tar")
    bundle = build_rauc_bundle({"appfs": image}, "1.1.0", COMPATIBLE, wing.estate.release_cert,
                               wing.estate.release_key, wing.estate.dir / "radio.raucb")
    wing.estate.add_target(app_target_path("education", "1.1.0"), bundle,
                           ReleaseMeta(kind="app", app="radio", version="1.1.0",
                                       compatible=COMPATIBLE))
    wing.publish()


def another_signer(wing: Wing) -> None:
    """TUF vouches for it, but RAUC's signature is by a CA that is not the estate's."""
    _, cert, key = make_release_ca(wing.estate.dir / "rogue-ca", None, name="Rogue")
    folder = make_app(wing.estate.dir / "src" / "rogue", "education", "1.1.0")
    image = appfs.pack(folder, wing.estate.dir / "rogue.tar")
    bundle = build_rauc_bundle({"appfs": image}, "1.1.0", COMPATIBLE, cert, key,
                               wing.estate.dir / "rogue.raucb")
    wing.estate.add_target(app_target_path("education", "1.1.0"), bundle,
                           ReleaseMeta(kind="app", app="education", version="1.1.0",
                                       compatible=COMPATIBLE))
    wing.publish()


@pytest.mark.parametrize(("make_bad_release", "reason"), [
    (tamper, "bundle refused"),
    (wrong_compatible, "release is for 'another-tablet'"),
    (another_apps_bundle, "target is a release of 'radio'"),
    (another_signer, "rauc refused the bundle"),
], ids=["tampered", "wrong-compatible", "another-app", "another-ca"])
def test_a_bad_release_is_refused_and_the_previous_build_is_untouched(
    wing: Wing, tablet: Tablet, apps_dir: Path, make_bad_release: Callable[[Wing], None],
    reason: str,
) -> None:
    before = installed_education(wing, tablet, apps_dir)
    make_bad_release(wing)
    subject = installer(tablet, apps_dir)

    assert subject.run(pins(education="1.1.0")) is False  # refused: not retried

    status = subject.statuses()["education"]
    assert (status.state, status.version) == (AppState.REFUSED, "1.1.0")
    assert reason in status.error
    assert fingerprint(apps_dir) == before
    assert verify(apps_dir, "education", pins(education="1.0.0")).ok


def test_a_refused_bundle_is_not_fetched_again_even_after_a_restart(
    wing: Wing, tablet: Tablet, apps_dir: Path
) -> None:
    installed_education(wing, tablet, apps_dir)
    another_signer(wing)
    subject = installer(tablet, apps_dir)
    subject.run(pins(education="1.1.0"))

    assert subject.run(pins(education="1.1.0")) is False
    restarted = installer(tablet, apps_dir)
    assert restarted.run(pins(education="1.1.0")) is False

    assert fetched(wing, "education", "1.1.0") == 1
    assert restarted.statuses()["education"].state == AppState.REFUSED
    assert "refused before" in restarted.statuses()["education"].error


def test_after_a_refused_release_a_newly_pinned_one_is_installed(
    wing: Wing, tablet: Tablet, apps_dir: Path
) -> None:
    installed_education(wing, tablet, apps_dir)
    another_signer(wing)
    installer(tablet, apps_dir).run(pins(education="1.1.0"))
    source = release(wing, "education", "1.1.1")

    assert installer(tablet, apps_dir).run(pins(education="1.1.1")) is False

    assert fingerprint(apps_dir / "education") == fingerprint(source)


def test_expired_tuf_metadata_installs_nothing_and_is_tried_again_later(
    wing: Wing, tablet: Tablet, apps_dir: Path
) -> None:
    before = installed_education(wing, tablet, apps_dir)
    release(wing, "education", "1.1.0")
    in_a_month = datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=30)
    subject = installer(tablet, apps_dir, now=lambda: in_a_month)

    assert subject.run(pins(education="1.1.0")) is True

    status = subject.statuses()["education"]
    assert status.state == AppState.FAILED
    assert "Expired" in status.error
    assert fingerprint(apps_dir) == before
    assert fetched(wing, "education", "1.1.0") == 0


def test_a_pinned_version_not_released_yet_is_tried_again_later(
    wing: Wing, tablet: Tablet, apps_dir: Path
) -> None:
    subject = installer(tablet, apps_dir)

    assert subject.run(pins(education="2.0.0")) is True

    status = subject.statuses()["education"]
    assert status.state == AppState.FAILED
    assert "no signed target 'app/education-2.0.0.raucb'" in status.error
    assert os.listdir(apps_dir) == []


def test_without_trusted_time_nothing_is_fetched_and_it_waits_to_be_woken_not_retried(
    wing: Wing, tablet: Tablet, apps_dir: Path
) -> None:
    release(wing, "education", "1.0.0")
    subject = installer(tablet, apps_dir, now=lambda: None)

    assert subject.run(pins(education="1.0.0")) is False

    status = subject.statuses()["education"]
    assert (status.state, status.error) == (AppState.PENDING, NO_TRUSTED_TIME)
    assert wing.hostile.requests == []


@pytest.fixture
def small_apps_dir(tmp_path: Path) -> Iterator[Path]:
    """An apps folder on a real 512 KiB file system (tmpfs), to fill up."""
    path = tmp_path / "small-apps"
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(path)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)


def test_a_full_disk_installs_nothing_keeps_the_previous_build_and_is_tried_again(
    wing: Wing, tablet: Tablet, small_apps_dir: Path
) -> None:
    before = installed_education(wing, tablet, small_apps_dir)
    release(wing, "education", "1.1.0", icon_bytes=1024 * 1024)
    subject = installer(tablet, small_apps_dir)

    assert subject.run(pins(education="1.1.0")) is True

    status = subject.statuses()["education"]
    assert status.state == AppState.FAILED
    assert "No space left on device" in status.error
    assert fingerprint(small_apps_dir) == before
    assert verify(small_apps_dir, "education", pins(education="1.0.0")).ok


# ------------------------------------------------------------------ hostile appfs images


def packed(wing: Wing, name: str, **app_options: object) -> Path:
    folder = make_app(wing.estate.dir / "src" / name, "education", "1.1.0",
                      **app_options)  # type: ignore[arg-type]
    return appfs.pack(folder, wing.estate.dir / f"{name}.tar")


def with_member(image: Path, member: tarfile.TarInfo, data: bytes = b"") -> Path:
    import io

    with tarfile.open(image, "a") as tar:
        member.size = len(data) if member.isreg() else 0
        tar.addfile(member, io.BytesIO(data) if member.isreg() else None)
    return image


def symlink_image(wing: Wing) -> Path:
    link = tarfile.TarInfo("bin/shadow")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/shadow"
    return with_member(packed(wing, "symlink"), link)


def unlisted_file_image(wing: Wing) -> Path:
    extra = tarfile.TarInfo("bin/extra")
    extra.mode = 0o755
    return with_member(packed(wing, "unlisted"), extra, b"#!/bin/sh\nid\n")


def dotdot_image(wing: Wing) -> Path:
    escape = tarfile.TarInfo("../escape")
    return with_member(packed(wing, "dotdot"), escape, b"outside\n")


def device_image(wing: Wing) -> Path:
    device = tarfile.TarInfo("bin/mem")
    device.type, device.devmajor, device.devminor = tarfile.CHRTYPE, 1, 1
    return with_member(packed(wing, "device"), device)


def wrong_key_image(wing: Wing) -> Path:
    return packed(wing, "wrong-key", key=samples.OTHER_KEY)


def other_version_image(wing: Wing) -> Path:
    return packed(wing, "other-version", manifest_version="1.0.0")


@pytest.mark.parametrize(("make_image", "reason"), [
    (symlink_image, "member 'bin/shadow' is not a regular file or folder"),
    (unlisted_file_image, "unlisted file bin/extra"),
    (dotdot_image, "member '../escape' is not a plain relative path"),
    (device_image, "member 'bin/mem' is not a regular file or folder"),
    (wrong_key_image, "manifest refused: unknown_key"),
    (other_version_image, "version 1.0.0 is not the allowed 1.1.0"),
], ids=["symlink", "unlisted-file", "dotdot", "device-node", "wrong-key", "other-version"])
def test_a_hostile_app_image_is_refused_and_the_previous_build_is_untouched(
    wing: Wing, tablet: Tablet, apps_dir: Path, make_image: Callable[[Wing], Path], reason: str,
) -> None:
    before = installed_education(wing, tablet, apps_dir)
    release_image(wing, "education", "1.1.0", make_image(wing))
    subject = installer(tablet, apps_dir)

    assert subject.run(pins(education="1.1.0")) is False

    status = subject.statuses()["education"]
    assert status.state == AppState.REFUSED
    assert reason in status.error
    assert fingerprint(apps_dir) == before
    assert verify(apps_dir, "education", pins(education="1.0.0")).ok


def test_release_app_refuses_a_folder_whose_manifest_is_for_another_version(
    wing: Wing, tmp_path: Path
) -> None:
    folder = make_app(tmp_path / "education", "education", "1.0.0")
    expected = re.escape("is for education 1.0.0, not education 1.1.0")
    with pytest.raises(ReleaseError, match=expected):
        check_app_folder(folder, "education", "1.1.0")
    with pytest.raises(ReleaseError, match=expected):
        wing.estate.release_app("education", folder, "1.1.0", COMPATIBLE)


# ------------------------------------------------------------------ power cuts

POINTS = 30 if os.environ.get("CELLBRIDGE_SLOW") == "1" else 8


def start(tablet: Tablet, apps_dir: Path, policy_file: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.updates.app_install_proc", str(tablet.config_file),
         str(apps_dir), str(policy_file)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_a_kill_9_anywhere_in_an_install_leaves_a_whole_build_and_the_next_run_completes(
    wing: Wing, tablet: Tablet, apps_dir: Path, tmp_path: Path
) -> None:
    old = installed_education(wing, tablet, apps_dir)["education/manifest.json"]
    source = release(wing, "education", "1.1.0", icon_bytes=6 * 1024 * 1024)
    new = fingerprint(source)
    policy_file = tmp_path / "policy.json"
    policy_file.write_text(pins(education="1.1.0").model_dump_json())
    rng = random.Random(int(os.environ.get("CELLBRIDGE_SEED", "7")))

    # An uninterrupted install elsewhere, to spread the cuts over the work itself.
    probe_dir = tmp_path / "probe-apps"
    probe_dir.mkdir()
    began = time.monotonic()
    assert start(wing.tablet(tmp_path / "probe"), probe_dir, policy_file).wait(120) == 0
    span = time.monotonic() - began

    for _ in range(POINTS):
        process = start(tablet, apps_dir, policy_file)
        time.sleep(rng.uniform(0.3, 1.0) * span)
        process.kill()
        process.wait(30)
        on_disk = fingerprint(apps_dir / "education")
        assert on_disk.get("manifest.json") in (old, new["manifest.json"]), "no whole build"
        if on_disk["manifest.json"] == old:
            assert verify(apps_dir, "education", pins(education="1.0.0")).ok
        else:
            assert on_disk == new

    finished = start(tablet, apps_dir, policy_file)
    assert finished.wait(120) == 0, finished.stderr.read() if finished.stderr else ""
    assert fingerprint(apps_dir / "education") == new
    assert sorted(os.listdir(apps_dir)) == ["education"]
