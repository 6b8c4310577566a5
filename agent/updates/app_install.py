"""Installing the app builds the wing policy pins, from the wing gateway's TUF repository.

For each app of the policy's catalogue whose build on disk does not pass `verify_app`, one
install (`AppInstaller.install`):

1. TUF (the OS engine's `TrustedReleases`, same trusted clock, same freshness and rollback rules)
   vouches for `app/<id>-<version>.raucb`, whose signed release fields must say: an app, this
   app, this version, this tablet's compatible string;
2. the bundle comes through the OS engine's resumable, bounded, streaming `download`;
3. real RAUC checks it against the estate release CA (`rauc info`, then `rauc extract`, which
   verifies the signature and the payload again and unpacks it without mounting);
4. its appfs image (`wire.appfs`) is unpacked (`common.appfs`) into a staging folder inside
   `apps_dir`, refusing hostile archives, and the staged folder must pass the same
   `verify_app` as a launch;
5. only then it replaces the app's folder in one step (`common.files.replace_dir`); the
   previous build stays runnable until that instant.

Failures are of two kinds: `InstallFailed` (network, repository, metadata, a target not
released yet, the disk, the clock: retried with backoff by the caller) and `InstallRefused`
(this signed bundle is bad: remembered by its digest and not fetched again). Either way nothing
is installed and the previous build is untouched. Synchronous: run it in a worker thread.
"""

from __future__ import annotations

import configparser
import contextlib
import datetime
import json
import logging
import os
import shutil
import stat
import subprocess
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import urllib3

from agent.apps import AppCheck
from agent.updates.app_plan import (
    AppState,
    AppStatus,
    bundle_key,
    pinned,
    statuses_after_policy,
    to_install,
)
from agent.updates.download import (
    DownloadError,
    DownloadRefused,
    Expected,
    bundle_files,
    download,
    kept_bundle,
)
from agent.updates.slots import BundleRefused, SlotError, check_bundle, last_line, rauc_info
from agent.updates.tufclient import (
    Release,
    ReleaseRefused,
    ReleaseUnavailable,
    TargetMissing,
    TrustedNow,
    TrustedReleases,
    UntrustedTime,
    checked_time,
)
from common import appfs as appfs_io
from common.files import fsync_dir, replace_dir, write_atomic
from wire import appfs
from wire.policy import WingPolicy
from wire.tuf_layout import ReleaseMeta, app_target_path, version_key

log = logging.getLogger(__name__)

RAUC_EXTRACT_TIMEOUT_S = 600.0
NO_TRUSTED_TIME = "waiting for the gateway's signed time"
STAGING_PREFIX = ".install-"
"""`<apps_dir>/.install-<app>/`: never an app id (those start with a letter)."""

Verify = Callable[[Path, str, WingPolicy], AppCheck]
"""`verify_app` bound to this tablet's keys, wing and clock: (apps root, app id, policy)."""


class InstallFailed(Exception):
    """Nothing is wrong with the release as far as is known: try again later."""


class InstallRefused(Exception):
    """This signed bundle must not be installed (wrong fields, bytes, signer or contents)."""


@dataclass(frozen=True)
class AppInstallConfig:
    apps_dir: Path
    work_dir: Path
    """Downloads and extraction (not necessarily on the apps' file system)."""
    compatible: str
    keyring: Path
    """The estate release CA: the only signer of app bundles accepted."""
    not_before: int = 0
    download_deadline_s: float = 3600.0
    max_bytes: int = appfs.MAX_BYTES
    """Cap on an app's unpacked files."""


class AppInstaller:
    def __init__(
        self,
        config: AppInstallConfig,
        releases: TrustedReleases,
        pool: urllib3.PoolManager,
        now: TrustedNow,
        verify: Verify,
        report: Callable[[Mapping[str, AppStatus]], None] = lambda statuses: None,
    ) -> None:
        self.config = config
        self.releases = releases
        self.pool = pool
        self.now = now
        self.verify = verify
        self.report = report
        self.refused: dict[str, str] = self._load_refused()
        """app -> `bundle_key` of the bundle refused for it (not fetched again, even after a
        restart: a crash loop must not download a bad bundle over and over)."""
        self._statuses: dict[str, AppStatus] = {}
        self._lock = threading.Lock()
        self._floor = 0.0

    # ------------------------------------------------------------ public
    def statuses(self) -> dict[str, AppStatus]:
        with self._lock:
            return dict(self._statuses)

    def recover(self) -> None:
        """After a restart or a power cut: put back a build left aside by an interrupted swap
        (file systems without an atomic exchange), then drop every unfinished staging folder
        and extraction. Downloads stay, to resume."""
        apps_dir = self.config.apps_dir
        if apps_dir.is_dir():
            for leftover in apps_dir.iterdir():
                if not leftover.name.startswith(STAGING_PREFIX):
                    continue
                app = leftover.name[len(STAGING_PREFIX):]
                retired = leftover / "retired"
                if app and retired.is_dir() and not os.path.lexists(apps_dir / app):
                    os.rename(retired, apps_dir / app)
                    fsync_dir(apps_dir)
                    log.warning("app %s: the previous build was put back after an "
                                "interrupted install", app)
                _remove(leftover)
        _remove(self._extract_dir)

    def run(self, policy: WingPolicy) -> bool:
        """Install every pinned build that is not installed. True if one failed transiently
        (call again later); without trusted time False: the agent calls again once it has it.
        Raises only for bugs."""
        pins = pinned(policy.apps)
        verified = {app: self.verify(self.config.apps_dir, app, policy).ok for app in pins}
        with self._lock:
            self._statuses = statuses_after_policy(self._statuses, pins, verified)
        self._publish()
        if to_install(pins, verified) and self.now() is None:
            # Nothing can be checked for freshness yet: pending, not failed, until the gateway's
            # signed time arrives (the agent wakes the installer then; no retries till then).
            for app in to_install(pins, verified):
                self._set(AppStatus(app, pins[app], AppState.PENDING, NO_TRUSTED_TIME))
            return False
        todo = to_install(pins, verified)
        try:
            found = self._lookup_all({app: pins[app] for app in todo}) if todo else {}
        except InstallFailed as exc:
            log.warning("app installs: release metadata unusable, will retry: %s", exc)
            for app in todo:
                self._set(AppStatus(app, pins[app], AppState.FAILED, str(exc)))
            return True
        retry = False
        for app in todo:
            self._set(AppStatus(app, pins[app], AppState.INSTALLING))
            try:
                self.install(app, pins[app], policy, found[app])
            except InstallFailed as exc:
                log.warning("app %s %s: install failed, will retry: %s", app, pins[app], exc)
                self._set(AppStatus(app, pins[app], AppState.FAILED, str(exc)))
                retry = True
            except InstallRefused as exc:
                log.error("app %s %s: install refused: %s", app, pins[app], exc)
                self._set(AppStatus(app, pins[app], AppState.REFUSED, str(exc)))
            else:
                log.info("app %s %s installed", app, pins[app])
                self._set(AppStatus(app, pins[app], AppState.INSTALLED))
        if not retry:
            self._clear_downloads()
        return retry

    def install(self, app: str, version: str, policy: WingPolicy,
                found: Release | ReleaseRefused) -> None:
        """Install the pinned `version` of `app` as TUF `found` it, or raise InstallFailed /
        InstallRefused with the previous build untouched."""
        release = self._release(found, app, version)
        key = bundle_key(version, release.info.hashes.get("sha256", ""), release.info.length)
        if self.refused.get(app) == key:
            raise InstallRefused("this bundle was refused before; waiting for another release")
        try:
            self._install(app, version, policy, release)
        except InstallRefused:
            self.refused[app] = key
            self._save_refused()
            raise
        except (OSError, SlotError) as exc:  # the disk is full, rauc could not run
            raise InstallFailed(str(exc)) from exc
        finally:
            _remove(self._staging(app))
            _remove(self._extract_dir)

    # ------------------------------------------------------------ steps
    def _lookup_all(self, pins: Mapping[str, str]) -> dict[str, Release | ReleaseRefused]:
        """One metadata refresh for every app to install (app -> what TUF says of its pin)."""
        now = self._trusted_now()
        try:
            found = self.releases.lookup_all(
                [app_target_path(app, version) for app, version in pins.items()], now)
        except (ReleaseUnavailable, ReleaseRefused) as exc:
            # Metadata refused (expired, rolled back, badly signed) may be mended by the next
            # timestamp the gateway signs, so this is tried again, never installed.
            raise InstallFailed(str(exc)) from exc
        return {app: found[app_target_path(app, version)] for app, version in pins.items()}

    def _release(self, found: Release | ReleaseRefused, app: str, version: str) -> Release:
        if isinstance(found, TargetMissing):
            raise InstallFailed(f"{found} (not released yet?)")
        if isinstance(found, ReleaseRefused):
            raise InstallFailed(str(found))
        _check_meta(found.meta, app, version, self.config.compatible)
        return found

    def _trusted_now(self) -> datetime.datetime:
        try:
            now = checked_time(self.now(), max(self.config.not_before, self._floor))
        except UntrustedTime as exc:
            raise InstallFailed(str(exc)) from exc
        self._floor = now.timestamp()
        return now

    def _install(self, app: str, version: str, policy: WingPolicy, release: Release) -> None:
        bundle = self._fetch(release, app, version)
        meta = release.meta
        try:
            check_bundle(rauc_info(bundle, self.config.keyring), meta)
            content = self._extract(bundle)
            image = _appfs_image(content)
        except BundleRefused as exc:
            bundle.unlink(missing_ok=True)
            raise InstallRefused(str(exc)) from exc
        staging = self._staging(app)
        _remove(staging)
        staging.mkdir(parents=True)
        try:
            appfs_io.unpack(image, staging / app, self.config.max_bytes)
        except appfs.HostileImage as exc:
            raise InstallRefused(f"appfs image refused: {exc}") from exc
        check = self.verify(staging, app, policy)
        if not check.ok:
            raise InstallRefused(f"the bundle's app does not verify: {check.reason}")
        old = replace_dir(staging / app, self.config.apps_dir / app, staging / "retired")
        if old is not None:
            _remove(old)
        bundle.unlink(missing_ok=True)

    def _fetch(self, release: Release, app: str, version: str) -> Path:
        expected = Expected(length=release.info.length, hashes=dict(release.info.hashes))
        downloads = self.config.work_dir / "download"
        downloads.mkdir(parents=True, exist_ok=True)
        partial, bundle = bundle_files(downloads, expected)
        if kept_bundle(bundle, expected):  # downloaded before a restart
            return bundle
        try:
            download(self.pool, self.releases.target_url(release.info.path), partial, expected,
                     deadline_s=self.config.download_deadline_s)
        except DownloadRefused as exc:
            partial.unlink(missing_ok=True)
            raise InstallRefused(f"bundle refused: {exc}") from exc
        except DownloadError as exc:
            raise InstallFailed(f"download interrupted: {exc}") from exc
        # RAUC checks a bundle's payload only if nobody else may write to it.
        os.chmod(partial, 0o600)
        partial.replace(bundle)
        return bundle

    def _extract(self, bundle: Path) -> Path:
        """`rauc extract`: checks the signature (against the release CA only) and the payload,
        and unpacks the bundle's content without mounting it."""
        out = self._extract_dir
        _remove(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = ["rauc", "extract", f"--keyring={self.config.keyring}", str(bundle), str(out)]
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, check=False,
                                    timeout=RAUC_EXTRACT_TIMEOUT_S, stdin=subprocess.DEVNULL)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SlotError(f"rauc extract could not run: {exc}") from exc
        if result.returncode != 0:
            raise BundleRefused(f"rauc extract refused the bundle: {last_line(result.stderr)}")
        return out

    # ------------------------------------------------------------ helpers
    @property
    def _refused_file(self) -> Path:
        return self.config.work_dir / "refused.json"

    def _load_refused(self) -> dict[str, str]:
        try:
            data = json.loads(self._refused_file.read_bytes())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            log.warning("forgetting refused app bundles: %s", exc)
            return {}
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}

    def _save_refused(self) -> None:
        try:
            write_atomic(self._refused_file, json.dumps(self.refused, sort_keys=True).encode())
        except OSError as exc:  # only costs a download again after a restart
            log.warning("cannot keep the refused app bundles: %s", exc)

    @property
    def _extract_dir(self) -> Path:
        return self.config.work_dir / "extract"

    def _staging(self, app: str) -> Path:
        return self.config.apps_dir / f"{STAGING_PREFIX}{app}"

    def _clear_downloads(self) -> None:
        _remove(self.config.work_dir / "download")

    def _set(self, status: AppStatus) -> None:
        with self._lock:
            self._statuses[status.app] = status
        self._publish()

    def _publish(self) -> None:
        try:
            self.report(self.statuses())
        except Exception:  # a listener's bug must not stop an install
            log.exception("app install report failed")


def _check_meta(meta: ReleaseMeta, app: str, version: str, compatible: str) -> None:
    """The signed release fields must name this very build for this tablet."""
    if meta.kind != "app":
        raise InstallRefused(f"target is an {meta.kind} release, not an app release")
    if meta.app != app:
        raise InstallRefused(f"target is a release of {meta.app!r}, not {app!r}")
    if version_key(meta.version) != version_key(version):
        raise InstallRefused(f"signed version {meta.version} is not the pinned {version}")
    if meta.compatible != compatible:
        raise InstallRefused(f"release is for {meta.compatible!r}, this tablet is {compatible!r}")


def _appfs_image(content: Path) -> Path:
    """The appfs image named by the bundle's RAUC manifest, a regular file in `content`."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string((content / "manifest.raucm").read_text(encoding="utf-8"))
        name = parser.get(f"image.{appfs.SLOT_CLASS}", "filename")
    except (OSError, UnicodeError, configparser.Error) as exc:
        raise BundleRefused(f"bundle has no [image.{appfs.SLOT_CLASS}]: {exc}") from exc
    if "/" in name or name in ("", ".", ".."):
        raise BundleRefused(f"bundle names its image {name!r}")
    image = content / name
    try:
        if not stat.S_ISREG(image.lstat().st_mode):
            raise BundleRefused(f"bundle image {name} is not a regular file")
    except FileNotFoundError as exc:
        raise BundleRefused(f"bundle image {name} is missing") from exc
    return image


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
