"""The demo's apps, released the way IT releases real ones: a small folder per app the wing
policy pins (an executable entry that shows a window, and some data), its manifest sealed by the
wing gateway (what `staff policy sign-app` does), signed into the estate's release repository
(`release app`) and published to the gateway's repository (`release publish`), which the gateway
serves to its tablets over HTTPS. The tablet's agent then installs them as on a real tablet.

Also the tablet's side: the `[updates]` settings of a demo tablet, with file-backed A/B slots
holding a factory image (it takes no OS update in the demo) and the repository's TUF root as the
image would carry it.
"""

from __future__ import annotations

import datetime
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tuf.api.metadata import Root, Targets

from agent.updates.config import UpdatesConfig
from agent.updates.slots import FileSlots
from common.apptree import hash_tree
from gateway.staff.client import ApiClient
from provisioning.release import EstateRepository
from wire.manifest import MANIFEST_NAME
from wire.tuf_layout import TufLayout, app_target_path

COMPATIBLE = "cellbridge-demo-tablet"
ENTRY = "bin/run"
DATA_BYTES = 6 * 1024
"""Each app carries this much data: RAUC refuses a bundle whose content is under 4 KiB."""
FACTORY_VERSION = "1.0.0"

_SCRIPT = """#!/bin/sh
# {name} {version}: a Cellbridge demo app. It notes that it ran and shows its name.
echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) {name} {version} started" >> "$HOME/{app}.log"
if [ -n "$DISPLAY" ] && command -v xmessage >/dev/null 2>&1; then
    exec xmessage -center -timeout 20 "{name} {version} (a Cellbridge demo app)"
fi
exec sleep 20
"""


@dataclass(frozen=True, slots=True)
class DemoApp:
    app: str
    name: str
    version: str


def catalogue_apps(catalogue: Mapping[str, Mapping[str, object]]) -> list[DemoApp]:
    """The apps a policy's `[apps]` catalogue pins, as `load_rules` gives it."""
    return [DemoApp(app, str(entry["name"]), str(entry["version"]))
            for app, entry in sorted(catalogue.items())]


def make_app_folder(folder: Path, app: DemoApp) -> Path:
    """The unsealed build of `app`: `bin/run` and a data file (the same bytes every time)."""
    (folder / "bin").mkdir(parents=True, exist_ok=True)
    entry = folder / ENTRY
    entry.write_text(_SCRIPT.format(app=app.app, name=app.name, version=app.version))
    entry.chmod(0o755)
    (folder / "data").mkdir(exist_ok=True)
    seed = f"{app.app}-{app.version}"
    (folder / "data" / "content.bin").write_bytes(random.Random(seed).randbytes(DATA_BYTES))
    return folder


def seal(folder: Path, app: DemoApp, gateway_api: Path) -> None:
    """Have the wing gateway sign the build's manifest (its `/v1/apps/manifest`, through the
    staff CLI's client, as `staff policy sign-app` does), written as FOLDER/manifest.json."""
    result = ApiClient(gateway_api).call("POST", "/v1/apps/manifest", {
        "app": app.app, "app_version": app.version, "entry": ENTRY,
        "files": hash_tree(folder), "by": "demo"})
    (folder / MANIFEST_NAME).write_text(result["envelope"], encoding="utf-8")


def open_repository(directory: Path) -> EstateRepository:
    """The demo estate's release repository (insecure demo keys), created the first time."""
    if TufLayout(directory).role_file(Root.type).exists():
        return EstateRepository(directory, None)
    return EstateRepository.init(directory, None, insecure_demo=True)


def release_apps(repository: EstateRepository, apps: list[DemoApp], gateway_api: Path,
                 served: Path) -> list[DemoApp]:
    """Build, seal and release each of `apps` not released yet, then publish the repository
    into `served` (the gateway's repository directory). Returns the apps released now."""
    released = set(repository.load(Targets.type, Targets).signed.targets)
    new = [a for a in apps if app_target_path(a.app, a.version) not in released]
    for app in new:
        folder = make_app_folder(repository.dir / "src" / f"{app.app}-{app.version}", app)
        seal(folder, app, gateway_api)
        repository.release_app(app.app, folder, app.version, COMPATIBLE)
    repository.publish(served)
    return new


def tablet_updates(directory: Path, repository: EstateRepository, url: str,
                   ca_file: Path) -> UpdatesConfig:
    """A demo tablet's `[updates]`: the repository at `url` (its certificate checked against
    `ca_file`), the repository's first root as the image's trust anchor, and file-backed slots
    whose slot A holds a factory image (made the first time)."""
    slots_dir = directory / "slots"
    image_root = directory / "image-root.json"
    if not (slots_dir / "slot-A.json").is_file():
        directory.mkdir(parents=True, exist_ok=True)
        image_root.write_bytes(repository.root_file(1).read_bytes())
        factory = directory / "factory.img"
        factory.write_bytes(random.Random(FACTORY_VERSION).randbytes(4096))
        FileSlots.create(slots_dir, repository.release_ca, factory, FACTORY_VERSION, COMPATIBLE)
    built = datetime.datetime.fromtimestamp(image_root.stat().st_mtime, datetime.UTC)
    return UpdatesConfig(
        repository_url=url, ca_file=ca_file, root_file=image_root,
        keyring=repository.release_ca, compatible=COMPATIBLE, work_dir=directory / "work",
        not_before=int(built.timestamp()) - 60, slots="file", file_slots_dir=slots_dir,
        health_needs_shell=False,
    )
