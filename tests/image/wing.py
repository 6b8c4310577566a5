"""The booted tablet's wing, on this host: the broker (mutual TLS) on port 8883 and the gateway
with its release repository on 8443, from the estate the image was enrolled in
(`tests/image/estate.py`). QEMU's user network gives the guest this host as 10.0.2.2, the
address the tablet's enrolment and firewall name; the certificates name it too.

Staff act through the real CLI (`cellbridge staff …` on the gateway's API socket): the policy,
the app release, the OS rollout.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from tuf.api.metadata import Targets

from cellbridge.wing import LocalWing
from gateway.repository import RepositoryConfig
from tests.buildroot.support import board_meta
from tests.image import app
from tests.image.builder import BOARD
from tests.image.estate import BROKER_PORT, GATEWAY, REPOSITORY_PORT, WING, TestEstate
from wire.tuf_layout import ReleaseMeta, os_target_path

POLICY = Path(__file__).with_name("policy.toml")


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("0.0.0.0", port))
        except OSError:
            return False
        return True


class HostWing:
    def __init__(self, image: Path, work: Path) -> None:
        self.estate = TestEstate(image / "estate")
        demo = self.estate.demo()
        self.local = LocalWing(work, 1, wing=WING, estate=demo, broker_port=BROKER_PORT)
        self.releases = self.estate.repository()
        self.served = work / "repository"
        tls = demo.repository_tls(GATEWAY)
        self.local.repository = RepositoryConfig(dir=self.served, cert=tls.cert, key=tls.key,
                                                 host="127.0.0.1", port=REPOSITORY_PORT)
        self.compatible = board_meta(BOARD)["RAUC_COMPATIBLE"]

    def start(self) -> HostWing:
        busy = [port for port in (BROKER_PORT, REPOSITORY_PORT) if not port_free(port)]
        if busy:
            raise RuntimeError(f"the boot test's wing needs ports {busy} of this host, in use")
        self.local.start_broker()
        self.releases.publish(self.served)
        self.local.start_gateway(timeout=60)
        self.staff("policy", "apply", str(POLICY))
        app.release(self.releases, self.local.gateway_api, self.compatible)
        self.releases.publish(self.served)
        return self

    def staff(self, *args: str) -> str:
        env = {**os.environ, "CELLBRIDGE_GATEWAY_API": str(self.local.gateway_api)}
        done = subprocess.run([sys.executable, "-m", "cellbridge", "staff", *args],
                              capture_output=True, text=True, env=env, check=False, timeout=120)
        if done.returncode != 0:
            raise RuntimeError(f"staff {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def staff_json(self, *args: str) -> Any:
        return json.loads(self.staff(*args, "--json"))

    def release_os(self, bundle: Path, version: str) -> str:
        """Add a RAUC bundle (signed with the image's keyring's key) as the OS release
        `version` and publish it; once per release repository. Returns its target path."""
        target = os_target_path(version)
        if target not in self.released():
            meta = ReleaseMeta(kind="os", version=version, compatible=self.compatible)
            self.releases.add_target(target, bundle, meta)
        self.releases.publish(self.served)
        return target

    def released(self) -> set[str]:
        return set(self.releases.load(Targets.type, Targets).signed.targets)

    def gateway_log(self) -> str:
        path = self.local.root / "gateway" / "gateway.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        self.local.stop()
