"""A wing policy to test against, written the way staff would write it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.apps import build_manifest
from wire.envelope import key_id, seal
from wire.manifest import MANIFEST_NAME
from wire.policy import AppEntry, Profile, WingPolicy, parse_window

ISSUED = 1_780_000_000_000  # 2026-05-28
EXPIRES = ISSUED + 10 * 365 * 86_400_000

APPS = {
    "listener": AppEntry(name="Listener line", version="2.1.0", icon="phone"),
    "legal": AppEntry(name="Legal letters", version="1.0.0", icon="scales"),
    "education": AppEntry(name="Education", version="3.2.0", icon="book"),
    "canteen": AppEntry(name="Canteen", version="1.4.0"),
    "music": AppEntry(name="Music", version="1.0.0"),
    "games": AppEntry(name="Games", version="0.9.0"),
    "jobsearch": AppEntry(name="Job search", version="1.1.0"),
}


def windows(*texts: str) -> tuple[Any, ...]:
    return tuple(parse_window(t) for t in texts)


def policy(**changes: Any) -> WingPolicy:
    """Nights: Sunday to Thursday 22:00-07:00, Friday and Saturday 23:00-08:00 (local time)."""
    fields: dict[str, Any] = {
        "audience": "wing:A",
        "version": 1,
        "issued": ISSUED,
        "expires": EXPIRES,
        "name": "A wing regime",
        "timezone": "Europe/London",
        "curfew": windows("sun-thu 22:00-07:00", "fri-sat 23:00-08:00"),
        "apps": APPS,
        "always_allowed": ("listener", "legal"),
        "profiles": {
            "basic": Profile(apps=("education", "canteen")),
            "standard": Profile(apps=("education", "canteen", "music")),
            "enhanced": Profile(
                apps=("education", "canteen", "music", "games"),
                hours={"games": windows("weekdays 17:00-21:00", "weekends 10:00-21:00")},
            ),
            "resettlement": Profile(
                apps=("education", "canteen", "music", "jobsearch"),
                hours={"jobsearch": windows("weekdays 09:00-17:00")},
            ),
        },
    }
    fields.update(changes)
    return WingPolicy(**fields)


WING_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
TRUSTED = {key_id(WING_KEY.public_key()): WING_KEY.public_key()}


def install_app(
    apps_dir: Path,
    app: str,
    *,
    version: str | None = None,
    key: Ed25519PrivateKey = WING_KEY,
    wing: str = "A",
    manifest_version: int = 1,
) -> Path:
    """Put a small app (an executable entry point and a data file) and its sealed manifest in
    `apps_dir/app`, as the update path would deliver it."""
    folder = apps_dir / app
    (folder / "bin").mkdir(parents=True, exist_ok=True)
    entry = folder / "bin" / "run"
    entry.write_text(f"#!/bin/sh\necho {app}\n")
    entry.chmod(0o755)
    (folder / "data.txt").write_text(f"{app} data\n")
    manifest = build_manifest(
        folder,
        app=app,
        app_version=version or APPS[app].version,
        entry="bin/run",
        audience=f"wing:{wing}",
        version=manifest_version,
        issued=ISSUED,
        expires=EXPIRES,
    )
    (folder / MANIFEST_NAME).write_bytes(seal(manifest, key))
    return folder
