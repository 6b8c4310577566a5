"""The boot test's estate, made the way IT makes one before it builds an image: the estate PKI
with wing `w1` whose gateway is the QEMU host (10.0.2.2, and 127.0.0.1 for the gateway's own
connection to its broker), the test tablet enrolled in it, and a release repository whose TUF
root the image carries. Each built disk has its own (kept beside it in the image cache): the
data partition holds this tablet's enrolment, the root file system this repository's root.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from provisioning import estate as est
from provisioning.demo_estate import DemoEstate
from provisioning.release import EstateRepository

GATEWAY = "10.0.2.2"  # QEMU user networking: the host, standing in for the wing gateway
BROKER_PORT = 8883
REPOSITORY_PORT = 8443
WING = "w1"
DEVICE_ID = "T-0001"  # the first tablet of a `cellbridge.wing.LocalWing`
CELL = "1-01"


@dataclass(frozen=True)
class TestEstate:
    folder: Path

    @property
    def pki(self) -> Path:
        return self.folder / "estate"

    @property
    def releases(self) -> Path:
        return self.folder / "releases"

    def demo(self) -> DemoEstate:
        """The estate opened for the host's wing (its broker, gateway and repository TLS)."""
        return DemoEstate(self.pki, wing=WING, broker_host=GATEWAY)

    def repository(self) -> EstateRepository:
        return EstateRepository(self.releases, None)

    @property
    def bundle(self) -> Path:
        return est.Estate(self.pki).bundles / DEVICE_ID


def make(folder: Path) -> TestEstate:
    """A new estate in `folder` (which must not hold one)."""
    made = TestEstate(folder)
    est.init_estate(made.pki, "Cellbridge boot-test estate", None)
    estate = est.Estate(made.pki)
    est.create_wing(estate, WING, None, broker_host=GATEWAY, server_names=["127.0.0.1"],
                    broker_port=BROKER_PORT, repository_port=REPOSITORY_PORT)
    est.enrol(estate, [est.EnrolRequest(DEVICE_ID, WING, CELL)], None, enrolled_by="image-test")
    EstateRepository.init(made.releases, None, insecure_demo=True)
    return made
