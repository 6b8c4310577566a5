"""Helpers for the app install tests: tiny apps sealed by a wing key, a policy pinning them, the
installer of a simulated tablet, and a fingerprint of everything in an apps folder."""

from __future__ import annotations

import datetime
import hashlib
import os
import random
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.apps import AppCheck, build_manifest, verify_app
from agent.updates.app_install import AppInstaller
from agent.updates.app_service import build_app_installer
from tests.policy import samples
from tests.updates.support import Tablet
from wire.envelope import seal
from wire.manifest import MANIFEST_NAME
from wire.policy import REQUIRED_PROFILES, AppEntry, Profile, WingPolicy

WING = "A"
AUDIENCE = f"wing:{WING}"


def make_app(folder: Path, app: str, version: str, *, key: Ed25519PrivateKey = samples.WING_KEY,
             manifest_version: str | None = None, icon_bytes: int = 6 * 1024) -> Path:
    """An app folder as IT hands it to `release app`: an entry point, an icon (random bytes: a
    RAUC bundle must be over 4 KiB) and the manifest sealed by the wing key."""
    (folder / "bin").mkdir(parents=True, exist_ok=True)
    entry = folder / "bin" / "run"
    entry.write_text(f"#!/bin/sh\necho {app} {version}\n")
    entry.chmod(0o755)
    (folder / "icon.bin").write_bytes(random.Random(f"{app}{version}").randbytes(icon_bytes))
    manifest = build_manifest(
        folder, app=app, app_version=manifest_version or version, entry="bin/run",
        audience=AUDIENCE, version=1, issued=samples.ISSUED, expires=samples.EXPIRES)
    (folder / MANIFEST_NAME).write_bytes(seal(manifest, key))
    return folder


def pins(**versions: str) -> WingPolicy:
    """A wing policy whose catalogue pins exactly these apps (`name_with_underscores` allowed)."""
    apps = {app: AppEntry(name=app.title(), version=v) for app, v in versions.items()}
    return samples.policy(
        audience=AUDIENCE, apps=apps, always_allowed=(),
        profiles={p: Profile(apps=tuple(apps)) for p in REQUIRED_PROFILES})


def verify(root: Path, app: str, policy: WingPolicy) -> AppCheck:
    return verify_app(root, app, policy=policy, trusted_keys=samples.TRUSTED, audience=AUDIENCE,
                      now_ms=int(time.time() * 1000))


def installer(tablet: Tablet, apps_dir: Path, **engine: Any) -> AppInstaller:
    now = engine.pop("now", lambda: datetime.datetime.now(datetime.UTC))
    return build_app_installer(tablet.config, apps_dir, tablet.engine(now=now, **engine),
                               now=now, verify=verify)


def fingerprint(directory: Path) -> dict[str, str]:
    """Every entry under `directory` (hidden ones too): sha256 of files, the kind of others."""
    found: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(directory):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            rel = path.relative_to(directory).as_posix()
            if path.is_symlink():
                found[rel] = "symlink"
            elif path.is_dir():
                found[rel] = "dir"
            else:
                found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found
