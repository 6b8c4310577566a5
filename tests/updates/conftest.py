"""Fixtures: an estate release repository with real RAUC bundles, a wing gateway serving it over
HTTPS, and a simulated tablet with file-backed A/B slots."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gateway.repository_server import serving_in_thread
from provisioning.release import EstateRepository
from tests.gateway.conftest import gateway, make_gateway, peer  # noqa: F401  (rollout tests)
from tests.updates.hostile import Hostile
from tests.updates.support import COMPATIBLE, Tablet, TlsFiles, make_image, make_tablet, make_tls


@dataclass
class Wing:
    estate: EstateRepository
    repo_dir: Path
    url: str
    tls: TlsFiles
    image_root: Path
    """root.json as baked into the tablet image (version 1)."""
    hostile: Hostile
    """Middleware in front of the repository server: tests give it rules to misbehave."""

    def release(self, version: str, size: int = 64 * 1024, seed: int | None = None,
                compatible: str = COMPATIBLE) -> str:
        image = make_image(self.estate.dir / "images" / f"rootfs-{version}.img", size,
                           seed if seed is not None else hash(version) & 0xFFFF)
        info = self.estate.release_os(image, version, compatible)
        self.publish()
        return info.path

    def publish(self) -> None:
        self.estate.publish(self.repo_dir)

    def tablet(self, directory: Path, **extra: Any) -> Tablet:
        return make_tablet(directory, self.image_root, self.estate.release_ca, self.tls.ca,
                           self.url, **extra)


@pytest.fixture
def wing(tmp_path: Path) -> Iterator[Wing]:
    estate = EstateRepository.init(tmp_path / "estate", None, insecure_demo=True)
    repo_dir = tmp_path / "gateway-repo"
    estate.publish(repo_dir)
    tls = make_tls(tmp_path / "tls")
    hostile: list[Hostile] = []

    def wrap(app: object) -> Hostile:
        hostile.append(Hostile(app))  # type: ignore[arg-type]
        return hostile[0]

    with serving_in_thread(repo_dir, tls.cert, tls.key, wrap=wrap) as url:  # type: ignore[arg-type]
        yield Wing(estate, repo_dir, url, tls, estate.metadata_dir / "1.root.json", hostile[0])


@pytest.fixture
def tablet(wing: Wing, tmp_path: Path) -> Tablet:
    return wing.tablet(tmp_path / "tablet")
