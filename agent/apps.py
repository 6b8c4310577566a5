"""App verification on the tablet: the signed manifest and every file on disk, before any launch.

An app lives in `<apps_dir>/<app id>/` with its sealed manifest (`wire.manifest.MANIFEST_NAME`)
beside its files. `verify_app` says yes only if the manifest is signed by a trusted wing key for
this wing, is for this app at the version the policy pins, and every file on disk is listed with
the same sha256 and nothing else is there (no unlisted binary, no symlink, no device node).

App folders are root-owned and read-only to the shell's user, so what was verified is what the
shell then starts; the check runs at every launch, so a change is caught the next time.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from common.apptree import TreeError, hash_tree
from wire.documents import is_app_id
from wire.envelope import Accepted, Refused, open_envelope
from wire.manifest import MANIFEST_NAME, AppManifest
from wire.policy import WingPolicy

MANIFEST_MAX_BYTES = AppManifest.MAX_BYTES + 1024


@dataclass(frozen=True, slots=True)
class AppCheck:
    ok: bool
    reason: str
    argv: tuple[str, ...] = ()
    manifest: AppManifest | None = field(default=None, compare=False)


def compare_files(listed: Mapping[str, str], found: Mapping[str, str]) -> str | None:
    """Why the files found differ from the listed ones (first reason, sorted), or None. Pure."""
    for path in sorted(set(found) | set(listed)):
        if path not in listed:
            return f"unlisted file {path}"
        if path not in found:
            return f"missing file {path}"
        if found[path] != listed[path]:
            return f"file {path} changed since it was signed"
    return None


def verify_app(
    apps_dir: Path,
    app_id: str,
    *,
    policy: WingPolicy,
    trusted_keys: Mapping[str, Ed25519PublicKey],
    audience: str,
    now_ms: int,
) -> AppCheck:
    """May `app_id`'s files run? Never raises for anything found on disk."""
    if not is_app_id(app_id):
        return AppCheck(False, "not an app id")
    entry = policy.apps.get(app_id)
    if entry is None:
        return AppCheck(False, "not in the wing's app allow-list")
    folder = apps_dir / app_id
    try:
        with open(folder / MANIFEST_NAME, "rb") as handle:
            raw = handle.read(MANIFEST_MAX_BYTES + 1)
    except OSError as exc:
        return AppCheck(False, f"no readable manifest: {exc.strerror}")
    verdict = open_envelope(
        raw,
        AppManifest,
        trusted_keys=trusted_keys,
        audience=audience,
        now_ms=now_ms,
        max_bytes=AppManifest.MAX_BYTES,
    )
    if isinstance(verdict, Refused):
        return AppCheck(False, f"manifest refused: {verdict.reason}: {verdict.detail}")
    if not isinstance(verdict, Accepted):  # AlreadyApplied cannot happen without a mark
        return AppCheck(False, "manifest refused")
    manifest = verdict.document
    if manifest.app != app_id:
        return AppCheck(False, f"manifest is for {manifest.app!r}", manifest=manifest)
    if manifest.app_version != entry.version:
        return AppCheck(
            False,
            f"version {manifest.app_version} is not the allowed {entry.version}",
            manifest=manifest,
        )
    try:
        found = hash_tree(folder)
    except (TreeError, OSError) as exc:
        return AppCheck(False, f"app folder refused: {exc}", manifest=manifest)
    problem = compare_files(manifest.files, found)
    if problem is not None:
        return AppCheck(False, problem, manifest=manifest)
    executable = folder / manifest.entry
    if not os.access(executable, os.X_OK):
        return AppCheck(False, f"entry {manifest.entry} is not executable", manifest=manifest)
    argv = (str(executable.resolve()), *manifest.args)
    return AppCheck(True, "verified", argv, manifest)


def build_manifest(
    folder: Path,
    *,
    app: str,
    app_version: str,
    entry: str,
    audience: str,
    version: int,
    issued: int,
    expires: int,
    args: tuple[str, ...] = (),
) -> AppManifest:
    """The manifest of the app in `folder` as it is now (to be sealed by the wing's key)."""
    return AppManifest(
        audience=audience,
        version=version,
        issued=issued,
        expires=expires,
        app=app,
        app_version=app_version,
        entry=entry,
        args=args,
        files=hash_tree(folder),
    )
