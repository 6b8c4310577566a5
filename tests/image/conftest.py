"""The boot test (`make image-test`): skipped unless CELLBRIDGE_IMAGE_TEST=1, so `make test` never
builds or boots the image."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.image import builder
from tests.image.qemu import DONE, Guest, findings

BOOT_TIMEOUT_S = float(os.environ.get("CELLBRIDGE_IMAGE_BOOT_TIMEOUT", "1200"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.image)
            if os.environ.get("CELLBRIDGE_IMAGE_TEST") != "1":
                item.add_marker(pytest.mark.skip(reason="boot test: run `make image-test`"))


@dataclass
class Boot:
    log: str
    results: list[list[str]]
    screen: Path
    image: Path
    seconds: float

    def find(self, *key: str) -> list[list[str]]:
        return [r[len(key):] for r in self.results if r[: len(key)] == list(key)]


@pytest.fixture(scope="session")
def image() -> Path:
    return builder.build()


@pytest.fixture(scope="session")
def booted(image: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Boot]:
    work = tmp_path_factory.mktemp("boot")
    guest = Guest(image, work)
    started = time.monotonic()
    guest.start()
    try:
        log = guest.wait_for(DONE, BOOT_TIMEOUT_S)
        seconds = time.monotonic() - started
        screen = guest.screendump(work / "screen.ppm")
        yield Boot(log, findings(log), screen, image, seconds)
    finally:
        guest.stop()
        keep = os.environ.get("CELLBRIDGE_IMAGE_KEEP")
        if keep:
            import shutil

            shutil.copytree(work, keep, dirs_exist_ok=True)
